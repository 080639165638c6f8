"""Generation speed: tokens/s of tinygpt.sample.generate at batch 1 with and without the KV cache,
for N new tokens (default 1000) at block 256 (the `lecture` preset), and for the shipped model.

Prints one JSON line per model with both rates and their ratio; the no-cache path (the whole
window recomputed for every token, as nanoGPT does) is the baseline measured in the same run.
  python bench/bench_generate.py [--new-tokens 1000] [--threads N]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tinygpt import GPT, GPTConfig, SampleConfig, generate, load_checkpoint  # noqa: E402
from tinygpt.device import describe_device, set_threads  # noqa: E402
from tinygpt.models import count_parameters  # noqa: E402

SHIPPED = ROOT / "checkpoints" / "shakespeare-gpt.safetensors"


def rate(model, new_tokens: int, use_cache: bool) -> tuple[float, list[int]]:
    list(generate(model, [0], SampleConfig(max_new_tokens=20, seed=0, use_cache=use_cache)))  # warm up
    start = time.perf_counter()
    out = [
        s.token
        for s in generate(model, [0], SampleConfig(max_new_tokens=new_tokens, seed=1, use_cache=use_cache))
    ]
    return new_tokens / (time.perf_counter() - start), out


def measure(name: str, model, new_tokens: int) -> dict:
    cached, a = rate(model, new_tokens, True)
    full, b = rate(model, new_tokens, False)
    return {
        "bench": "generate", "model": name, "params": count_parameters(model),
        "block_size": model.config.block_size, "new_tokens": new_tokens, "device": describe_device("cpu"),
        "kv_cache_tok_s": round(cached), "no_cache_tok_s": round(full),
        "kv_cache_vs_no_cache": round(cached / full, 2), "same_tokens": a == b,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-tokens", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    lecture = GPT(GPTConfig.preset("lecture", vocab_size=65)).eval()
    print(json.dumps(measure("lecture preset (random weights)", lecture, args.new_tokens)), flush=True)
    if SHIPPED.exists():
        print(json.dumps(measure(SHIPPED.name, load_checkpoint(SHIPPED).model, args.new_tokens)), flush=True)


if __name__ == "__main__":
    main()
