"""Training speed: tokens/s of the real training loop (tinygpt.train) at the `cpu` and `lecture`
presets, explicit vs fast (fused SDPA) attention, fp32 vs bf16 autocast. CPU training takes the explicit
path by default (tinygpt.gpt.FLASH_FOR_CPU_TRAINING); the fast variants here force the fused kernel to
keep measuring that choice.

Prints one JSON line per preset with every variant and the ratios against the baseline measured
in the same run (explicit attention, fp32: what the lecture's code does).
  python bench/bench_train.py [--presets cpu lecture] [--steps 20] [--threads N]
"""

import argparse
import json
import statistics

import torch

from tinygpt import (
    CharTokenizer,
    GPTConfig,
    TrainConfig,
    build_model,
    encode_text,
    gpt,
    load_shakespeare,
    split_data,
    train,
)
from tinygpt.device import best_device, describe_device, use_threads
from tinygpt.train import StepEvent

BATCH = {"cpu": 32, "lecture": 16, "small": 32, "tiny": 8}
WARMUP = 3


def tokens_per_sec(preset, use_flash, dtype, splits, vocab_size, steps, device) -> float:
    torch.manual_seed(0)
    gpt.FLASH_FOR_CPU_TRAINING = use_flash
    config = GPTConfig.preset(preset, vocab_size=vocab_size, use_flash=use_flash)
    model = build_model("gpt", config)
    cfg = TrainConfig(
        batch_size=BATCH[preset],
        max_steps=WARMUP + steps,
        eval_interval=10**9,
        eval_iters=1,
        device=device,
        dtype=dtype,
        warmup_steps=0,
    )
    rates = [e.tokens_per_sec for e in train(model, splits, cfg) if isinstance(e, StepEvent)][WARMUP:]
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", nargs="+", default=["cpu", "lecture"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    use_threads(args.threads)
    text = load_shakespeare(args.data)
    tok = CharTokenizer.from_text(text)
    splits = split_data(encode_text(text, tok))
    device = best_device()
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # the first AdamW in a process is slow
    for preset in args.presets:
        row = {
            "bench": "train",
            "preset": preset,
            "device": describe_device(device),
            "batch_size": BATCH[preset],
            "steps": args.steps,
        }
        for use_flash in (False, True):
            for dtype in ("float32", "bfloat16"):
                key = f"{'fast' if use_flash else 'explicit'}_{'bf16' if dtype == 'bfloat16' else 'fp32'}"
                row[f"{key}_tok_s"] = round(
                    tokens_per_sec(preset, use_flash, dtype, splits, tok.vocab_size, args.steps, device)
                )
        base = row["explicit_fp32_tok_s"]
        row["fast_vs_explicit_fp32"] = round(row["fast_fp32_tok_s"] / base, 2)
        row["bf16_vs_fp32_fast"] = round(row["fast_bf16_tok_s"] / row["fast_fp32_tok_s"], 2)
        row["best_vs_baseline"] = round(max(v for k, v in row.items() if k.endswith("_tok_s")) / base, 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
