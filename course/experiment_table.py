"""The shipped table of the extensions (checkpoints/experiments.json): every switch of
`course.experiments` against the baseline, for several seeds, with the command that made it.

    python -m course.experiment_table --seeds 1337 1338 1339 --out checkpoints/experiments.json

Each model trains in a process of its own on one thread (these models are too small for threads
inside a step to pay), as many at once as there are idle cores. A switch whose mean differs from the
baseline's by less than twice the spread of the seeds' paired differences is reported as "no
difference at this scale": that is a result too.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch

from course.beyond import parameters_of
from course.experiments import BASELINE, SWITCHES, baseline_train, make_arm, steps_for
from course.rungs import default_workers
from course.saved_runs import SHIPPED_DIR
from tinygpt.corpus import load_shakespeare, sha256_hex
from tinygpt.train import DoneEvent, EvalEvent, SampleEvent, StepEvent, train

RESULTS = SHIPPED_DIR / "experiments.json"
DEFAULT_CHARS = 600_000  # the cpu recipe's 400 steps of 24 x 64 characters, about
FORMAT = 1
EVAL_ITERS = 100
ORDER = [BASELINE, *SWITCHES]


@dataclass(frozen=True)
class Result:
    """One model of one experiment, trained to its end."""

    switch: str  # BASELINE or a key of SWITCHES
    seed: int
    params: int
    steps: int
    batch_size: int
    chars_per_token: float
    val_loss: float  # nats per token
    val_bpc: float  # bits per character on the same validation characters (unknown words spelled out)
    seconds: float
    tokens_per_sec: float
    sample: str


def train_one(job: tuple[str, str, int, int, int]) -> Result:
    """Train one model of an experiment (`kind`: BASELINE or a switch) as `make_experiment` makes it,
    and evaluate it once, at the end, over `eval_iters` batches."""
    kind, text, chars, seed, eval_iters = job
    torch.set_num_threads(1)
    arm = make_arm(SWITCHES.get(kind), text, baseline_train(steps_for(chars)), seed)
    data, model, cfg = arm.data(text), arm.build(), arm.train_config()
    cfg = replace(cfg, eval_interval=cfg.max_steps, eval_iters=eval_iters, sample_tokens=200)
    last, sample, tokens, seconds = None, "", [], 0.0
    for event in train(model, data.splits, cfg, data.tokenizer):
        if isinstance(event, StepEvent):
            tokens.append(event.tokens_per_sec)
        elif isinstance(event, EvalEvent):
            last = event
        elif isinstance(event, SampleEvent):
            sample = event.text
        elif isinstance(event, DoneEvent):
            seconds = event.elapsed
    return Result(
        kind,
        seed,
        parameters_of("gpt", arm.config),
        cfg.max_steps,
        cfg.batch_size,
        round(arm.chars_per_token, 4),
        round(last.val_loss, 4),
        round(arm.bpc(last.val_bpc), 4),
        round(seconds, 2),
        round(statistics.median(tokens)),
        sample,
    )


def jobs(switches, text: str, chars: int, seeds, eval_iters: int = EVAL_ITERS) -> list[tuple]:
    """The baseline once per seed (it is the same in every experiment), then each switch per seed."""
    return [(kind, text, chars, seed, eval_iters) for kind in (BASELINE, *switches) for seed in seeds]


def summarize(results: list[Result]) -> list[dict]:
    """Per switch: mean and spread of bits per character over the seeds, and the difference from
    the baseline paired by seed, with a verdict."""
    base = {r.seed: r.val_bpc for r in results if r.switch == BASELINE}
    rows = []
    for name in dict.fromkeys(r.switch for r in results):
        mine = [r for r in results if r.switch == name]
        bpcs = [r.val_bpc for r in mine]
        diffs = [r.val_bpc - base[r.seed] for r in mine if r.seed in base]
        row = {
            "switch": name,
            "label": SWITCHES[name].label if name in SWITCHES else "Baseline (the cpu preset)",
            "seeds": len(mine),
            "val_bpc_mean": round(statistics.mean(bpcs), 4),
            "val_bpc_spread": round(statistics.stdev(bpcs), 4) if len(bpcs) > 1 else 0.0,
            "params": mine[0].params,
            "tokens_per_sec": round(statistics.mean(r.tokens_per_sec for r in mine)),
            "chars_per_token": mine[0].chars_per_token,
            "seconds": round(statistics.mean(r.seconds for r in mine), 1),
        }
        if name != BASELINE:
            row |= difference(diffs)
        rows.append(row)
    return rows


def difference(diffs: list[float]) -> dict:
    """The mean paired difference (switch minus baseline) and whether it stands out of the seeds' noise."""
    mean = statistics.mean(diffs)
    spread = statistics.stdev(diffs) if len(diffs) > 1 else math.nan
    if math.isnan(spread):
        verdict = "one seed only: no verdict"
    elif abs(mean) <= 2 * spread:
        verdict = "no difference at this scale"
    else:
        verdict = "better" if mean < 0 else "worse"
    return {"diff_mean": round(mean, 4), "diff_spread": round(spread, 4), "verdict": verdict}


def load_table(path=RESULTS) -> dict | None:
    """The shipped table, or None when there is none (or it cannot be read)."""
    try:
        return json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="python -m course.experiment_table", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--switches", nargs="+", default=list(SWITCHES), choices=list(SWITCHES), metavar="SWITCH")
    p.add_argument("--seeds", nargs="+", type=int, default=[1337, 1338, 1339])
    p.add_argument("--chars", type=int, default=DEFAULT_CHARS, help="training characters per model")
    p.add_argument(
        "--eval-iters",
        type=int,
        default=EVAL_ITERS,
        help="validation batches of the one evaluation, at the end (default: about the whole validation text)",
    )
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per idle core)")
    p.add_argument("--out", help="write the table to this JSON file")
    args = p.parse_args(argv)
    text = load_shakespeare(args.data)
    todo = jobs(args.switches, text, args.chars, args.seeds, args.eval_iters)
    start, results = time.perf_counter(), []
    workers = args.workers or default_workers(len(todo))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for r in pool.imap_unordered(train_one, todo):
            results.append(r)
            print(f"{r.switch:22} seed {r.seed}: {r.val_bpc:.4f} bits/char, {r.seconds:.0f} s", flush=True)
    rows = summarize(sorted(results, key=lambda r: (ORDER.index(r.switch), r.seed)))
    for row in rows:
        print(_line(row))
    if args.out:
        table = {
            "format": FORMAT,
            "command": "python -m course.experiment_table " + shlex.join(argv),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "workers": workers,
            "chars": args.chars,
            "eval_iters": args.eval_iters,
            "dataset_sha256": sha256_hex(text.encode()),
            "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%d"),
            "rows": rows,
            "results": [asdict(r) for r in results],
        }
        tmp = f"{args.out}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=1)
        os.replace(tmp, args.out)
    return 0


def _line(row: dict) -> str:
    diff = (
        f"  {row['diff_mean']:+.4f} ± {row['diff_spread']:.4f}  {row['verdict']}" if "verdict" in row else ""
    )
    return f"{row['label'][:40]:40} {row['val_bpc_mean']:.4f} ± {row['val_bpc_spread']:.4f}{diff}"


if __name__ == "__main__":
    sys.exit(main())
