"""The ladder's speed: `python -m tinygpt ladder` (rungs 1-6 at the lecture's 5,000 steps) end to end,
against the baseline of the same rungs trained one after another in one process on one thread,
measured in the same run. Prints one JSON line per variant (wall seconds, and per rung its seconds
and steps/s for the in-process variants) and a last line with the ratios.
  python bench/bench_ladder.py [--steps 5000] [--workers 2] [--rounds 1] [--data input.txt]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from course.rungs import CLIMB, LadderSettings, climb
from tinygpt import CharTokenizer, encode_text, load_shakespeare, split_data

ROOT = Path(__file__).resolve().parent.parent


def in_process(splits, tokenizer, steps: int, workers: int) -> dict:
    start = time.perf_counter()
    results = list(climb(CLIMB, splits, tokenizer, LadderSettings(max_steps=steps), workers))
    return {
        "variant": "one process, one thread" if workers == 1 else f"{workers} processes of one thread",
        "wall_seconds": round(time.perf_counter() - start, 1),
        "rungs": {
            r.rung: {"seconds": round(r.seconds, 1), "steps_per_sec": round(r.steps_per_sec)} for r in results
        },
        "val_loss": {r.rung: round(r.val_loss, 3) for r in results},
    }


def command_line(steps: int, data: str | None) -> dict:
    """`python -m tinygpt ladder --json` as a user runs it: start-up and imports included."""
    cmd = [sys.executable, "-m", "tinygpt", "ladder", "--json", "--max-steps", str(steps)]
    start = time.perf_counter()
    done = subprocess.run(cmd + (["--data", data] if data else []), cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {
        "variant": "python -m tinygpt ladder --json",
        "wall_seconds": round(time.perf_counter() - start, 1),
        "summary": done.stderr.strip().splitlines()[-1],  # "6 rungs in ...s with N worker(s)"
        "val_loss": {r["rung"]: round(r["val_loss"], 3) for r in rows},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = load_shakespeare(args.data)
    tokenizer = CharTokenizer.from_text(text)
    splits = split_data(encode_text(text, tokenizer))
    print(json.dumps({"cpus": os.cpu_count(), "torch": torch.__version__, "steps": args.steps}), flush=True)
    list(
        climb(CLIMB, splits, tokenizer, LadderSettings(max_steps=2, eval_iters=1))
    )  # lazy imports, first AdamW
    walls: dict[str, list[float]] = {}
    for _ in range(args.rounds):  # interleaved, so a busy spell on a shared machine hits both variants
        for workers in (1, args.workers):
            result = in_process(splits, tokenizer, args.steps, workers)
            walls.setdefault(result["variant"], []).append(result["wall_seconds"])
            print(json.dumps(result), flush=True)
    cli = command_line(args.steps, args.data)
    walls[cli["variant"]] = [cli["wall_seconds"]]
    print(json.dumps(cli), flush=True)
    medians = {variant: statistics.median(w) for variant, w in walls.items()}
    base = round(medians.pop("one process, one thread"), 1)
    ratios = {variant: round(base / wall, 2) for variant, wall in medians.items()}
    print(
        json.dumps({"baseline_seconds": base, "speed-up against one process, one thread": ratios}), flush=True
    )


if __name__ == "__main__":
    main()
