"""Generation speed at batch 1, for the shipped model and the `lecture` preset (block 256).

Two measurements per model, each against a baseline measured in the same run:
  - whole generations: tokens/s of tinygpt.sample.generate for N new tokens (default 1000) from a
    one-token prompt, with the KV cache against without it (nanoGPT's way: the whole window
    recomputed for every token). Both paths follow the same window rule and must pick the same tokens.
  - one decoding step at mid-context: `GPT.decoder()` against `GPT.forward` with the same cache.
With the dataset at hand (--data, $TINYGPT_DATA or the cache), it also prints the shipped model's
validation loss by how much context it had: the cost of sliding the window in half-block jumps.
This VM's speed drifts by ±30% from minute to minute, so each rate is the median of --repeats
runs, variants interleaved so that a slow minute slows both alike; the best run is printed too.
Prints one JSON line per model.
  python bench/bench_generate.py [--new-tokens 1000] [--repeats 3] [--threads 1] [--data input.txt]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from bench.machine import machine
from course.generation import DECODE_THREADS
from tinygpt import GPT, GPTConfig, SampleConfig, generate, load_checkpoint
from tinygpt.corpus import DatasetError, load_shakespeare
from tinygpt.data import encode_text, split_data
from tinygpt.device import describe_device, use_threads
from tinygpt.models import count_parameters

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = ROOT / "checkpoints" / "shakespeare-gpt.safetensors"


def generation(model, new_tokens: int, use_cache: bool) -> tuple[float, list[int]]:
    """(tokens/s, tokens) of one generation."""
    cfg = SampleConfig(max_new_tokens=new_tokens, seed=1, use_cache=use_cache)
    start = time.perf_counter()
    out = [s.token for s in generate(model, [0], cfg)]
    return new_tokens / (time.perf_counter() - start), out


@torch.inference_mode()
def step_micros(model, step, n: int = 200) -> float:
    """Microseconds per call of step(token, cache) with the cache half full (rewound each call)."""
    cache = model.new_cache(1)
    model(torch.zeros(1, model.config.block_size // 2, dtype=torch.long), cache=cache)
    prefilled = cache.length
    for _ in range(20):
        rewind(cache, prefilled)
        step(1, cache)
    start = time.perf_counter()
    for _ in range(n):
        rewind(cache, prefilled)
        step(1, cache)
    return (time.perf_counter() - start) / n * 1e6


def rewind(cache, length: int) -> None:
    for layer in cache.layers:
        layer.length = length


def forward_step(model):
    return lambda token, cache: model(torch.tensor([[token]]), cache=cache)[0][0, -1]


def measure(name: str, model, new_tokens: int, repeats: int) -> dict:
    model.eval()
    generation(model, 20, True)  # warm up
    rates = {"kv_cache": [], "no_cache": [], "decoder_us": [], "forward_us": []}
    for _ in range(repeats):
        cached, a = generation(model, new_tokens, True)
        full, b = generation(model, new_tokens, False)
        assert a == b, "the cached and uncached paths picked different tokens"
        rates["kv_cache"].append(cached)
        rates["no_cache"].append(full)
        rates["decoder_us"].append(step_micros(model, model.decoder()))
        rates["forward_us"].append(step_micros(model, forward_step(model)))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "bench": "generate",
        "model": name,
        "params": count_parameters(model),
        "block_size": model.config.block_size,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "device": describe_device("cpu"),
        "machine": machine(),
        "kv_cache_tok_s": round(med["kv_cache"]),
        "kv_cache_best_tok_s": round(max(rates["kv_cache"])),
        "no_cache_tok_s": round(med["no_cache"]),
        "kv_cache_vs_no_cache": round(med["kv_cache"] / med["no_cache"], 2),
        "step_us_decoder": round(med["decoder_us"]),
        "step_us_forward": round(med["forward_us"]),
        "forward_vs_decoder": round(med["forward_us"] / med["decoder_us"], 2),
        "same_tokens": True,
    }


@torch.inference_mode()
def loss_by_context(ckpt, text: str, n_windows: int = 2048) -> dict:
    """Mean val loss at positions 1-8, 9-32, ... of full windows: what each amount of context is worth."""
    model, block = ckpt.model.eval(), ckpt.model.config.block_size
    val = split_data(encode_text(text, ckpt.tokenizer)).val
    starts = torch.randint(len(val) - block - 1, (n_windows,), generator=torch.Generator().manual_seed(0))
    x = torch.stack([val[i : i + block] for i in starts])
    y = torch.stack([val[i + 1 : i + block + 1] for i in starts])
    per_position = torch.cat(
        [
            F.cross_entropy(model(xb)[0].transpose(1, 2), yb, reduction="none")
            for xb, yb in zip(x.split(64), y.split(64), strict=True)
        ]
    ).mean(0)
    edges = [0, 8, 32, block // 2, 3 * block // 4, block]
    ranges = {
        f"context_{lo + 1}_{hi}": round(float(per_position[lo:hi].mean()), 4)
        for lo, hi in zip(edges, edges[1:], strict=False)
    }
    return {
        "bench": "loss_by_context",
        "model": SHIPPED.name,
        "windows": n_windows,
        **ranges,
        f"half_block_jumps_{block // 2 + 1}_{block}": round(float(per_position[block // 2 :].mean()), 4),
        f"quarter_block_jumps_{3 * block // 4 + 1}_{block}": round(
            float(per_position[3 * block // 4 :].mean()), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--data", default=None, help="Tiny Shakespeare file (default: $TINYGPT_DATA or the cache)"
    )
    parser.add_argument("--threads", type=int, default=DECODE_THREADS, help="default: as the app decodes")
    args = parser.parse_args()
    use_threads(args.threads)
    if SHIPPED.exists():
        shipped = load_checkpoint(SHIPPED).model
        print(json.dumps(measure(SHIPPED.name, shipped, args.new_tokens, args.repeats)), flush=True)
        try:
            print(
                json.dumps(loss_by_context(load_checkpoint(SHIPPED), load_shakespeare(args.data))), flush=True
            )
        except DatasetError as e:
            print(json.dumps({"bench": "loss_by_context", "skipped": str(e)}), flush=True)
    torch.manual_seed(0)
    lecture = GPT(GPTConfig.preset("lecture", vocab_size=65))
    print(json.dumps(measure("lecture preset (random weights)", lecture, args.new_tokens, args.repeats)))


if __name__ == "__main__":
    main()
