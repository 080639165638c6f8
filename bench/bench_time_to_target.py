"""Time to a validation loss of 1.88 on Tiny Shakespeare: the default command line
(`python -m tinygpt train --out run.safetensors`, the `cpu` preset and its recipe) against nanoGPT's CPU
recipe run through tinygpt (4 layers x 128, block 64, batch 12, learning rate 1e-3 with 100 warmup steps
and cosine decay to 1e-4, weight decay 0.1, beta2 0.99, clipping 1.0, no dropout, 2,000 steps, evaluated
every 250 steps on 20 batches: nanoGPT's README, "I'm on a macbook" / CPU).

Each case is a fresh `python -m tinygpt train` process; its wall time counts everything a user waits
for (starting Python, loading torch and the text, training, evaluations, saving). Its time to target is
the training clock at its first evaluation at or below the target (from the checkpoint's history; the
baseline evaluates every 250 steps, so it may reach the target before its last step). The cases
alternate when --repeats > 1. After each run, `python -m tinygpt eval` measures the saved model's val
loss on 100 batches of 64 (not timed): the runs' own evaluations use few batches and are noisy.

  python bench/bench_time_to_target.py [--data input.txt] [--repeats 1] [--target 1.88]
Prints one JSON line per run and a last line with the medians and the ratio against the baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import machine
from tinygpt.checkpoint import read_metadata

ROOT = Path(__file__).resolve().parent.parent

SHARED_DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

NANOGPT_CPU = {
    "n-layer": 4,
    "n-head": 4,
    "n-embd": 128,
    "block-size": 64,
    "dropout": 0.0,
    "batch-size": 12,
    "learning-rate": 1e-3,
    "min-lr": 1e-4,
    "warmup-steps": 100,
    "max-steps": 2000,
    "weight-decay": 0.1,
    "beta2": 0.99,
    "grad-clip": 1.0,
    "eval-interval": 250,
    "eval-iters": 20,
}


def cases(baseline_dtype: str) -> dict[str, list[str]]:
    baseline = [f"--{k}={v}" for k, v in NANOGPT_CPU.items()]
    baseline += ["--optimizer=adamw", f"--dtype={baseline_dtype}"]
    return {"default_recipe": [], "nanogpt_cpu_recipe": baseline}


def tinygpt(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """`python -m tinygpt ...` run from the repository root (`-m` finds the package there)."""
    return subprocess.run(
        [sys.executable, "-m", "tinygpt", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_case(name: str, flags: list[str], data: str | None, folder: str, target: float) -> dict:
    out = Path(folder) / f"{name}.safetensors"
    data_args = ["--data", data] if data else []
    start = time.perf_counter()
    done = tinygpt("train", *flags, *data_args, "--out", str(out), "--quiet")
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    found = re.search(r"done after (\d+) steps, ([\d.]+)s", done.stdout)
    history = read_metadata(out)["summary"]["history"]
    reached = next((h for h in history if h["val_loss"] <= target), None)
    check = tinygpt("eval", "--checkpoint", str(out), *data_args, "--eval-iters", "100", "--json")
    if check.returncode != 0:
        raise SystemExit(f"eval of {name} failed:\n{check.stderr[-2000:]}")
    return {
        "bench": "time_to_target",
        "case": name,
        "flags": " ".join(flags) or "(defaults)",
        "wall_s": round(wall, 1),
        "train_s": float(found.group(2)),
        "steps": int(found.group(1)),
        "to_target_s": None if reached is None else round(reached["elapsed"], 1),
        "to_target_step": None if reached is None else reached["step"],
        "run_val": round(history[-1]["val_loss"], 4),
        "val_100x64": round(json.loads(check.stdout)["val_loss"], 4),
        "evals": [(h["step"], round(h["elapsed"], 1), round(h["val_loss"], 3)) for h in history],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA) if SHARED_DATA.exists() else None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--target", type=float, default=1.88)
    parser.add_argument(
        "--baseline-dtype", default="auto", help="auto (tinygpt's default: bf16 where it pays) or float32"
    )
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, flags in cases(args.baseline_dtype).items():
                row = run_case(name, flags, args.data, folder, args.target)
                row["reached_target"] = row["val_100x64"] <= args.target
                results.setdefault(name, []).append(row)
                print(json.dumps(row), flush=True)
    wall = {name: statistics.median(r["wall_s"] for r in rows) for name, rows in results.items()}
    to_target = {
        name: statistics.median(r["to_target_s"] or float("inf") for r in rows)
        for name, rows in results.items()
    }
    summary = {
        "bench": "time_to_target",
        "case": "summary",
        "target": args.target,
        "median_to_target_s": to_target,
        "median_wall_s": wall,
        "all_reached_target": all(r["reached_target"] for rows in results.values() for r in rows),
        "to_target_baseline_over_default": round(
            to_target["nanogpt_cpu_recipe"] / to_target["default_recipe"], 2
        ),
        "wall_baseline_over_default": round(wall["nanogpt_cpu_recipe"] / wall["default_recipe"], 2),
        "machine": machine(),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
