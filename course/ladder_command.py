"""`python -m tinygpt ladder`: the lecture's ladder (course/rungs.py) from the command line. The
library's CLI (tinygpt/cli.py) adds this command when the course is there; the training is the
library's `train()`, the rungs and their results the course's."""

from __future__ import annotations

import json
import sys
import time

import torch

from course.rungs import RUNGS, LadderSettings, climb, default_workers, select_rungs, write_results
from tinygpt.corpus import load_shakespeare, sha256_hex
from tinygpt.data import CharTokenizer, encode_text, split_data


def add_ladder_parser(sub, add_command) -> None:
    """The `ladder` subcommand, made with the CLI's `add_command` (its help and examples)."""
    d = LadderSettings()
    p = add_command(sub, "ladder", "train the lecture's ladder, bigram to Transformer, one piece at a time")
    p.add_argument(
        "--rungs",
        nargs="+",
        default=["climb"],
        metavar="RUNG",
        help=f"climb, descent, all or {', '.join(RUNGS)}",
    )
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="steps per rung")
    p.add_argument("--seed", type=int, nargs="+", default=[d.seed], help="one climb per seed")
    p.add_argument("--eval-interval", type=int, default=None, help="steps (default: once, at the end)")
    p.add_argument("--eval-iters", type=int, default=d.eval_iters, help="batches per loss estimate")
    p.add_argument("--sample-tokens", type=int, default=0, help="a text sample of this length per rung")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per idle core)")
    p.add_argument("--json", action="store_true", help="print one JSON object per rung")
    p.add_argument("--out", help="also save every result, with this command, to a JSON file")
    p.set_defaults(func=cmd_ladder)


def cmd_ladder(args) -> int:
    rungs = select_rungs(args.rungs)
    settings = LadderSettings(
        max_steps=args.max_steps,
        eval_interval=args.eval_interval,
        eval_iters=args.eval_iters,
        sample_tokens=args.sample_tokens,
        seed=args.seed[0],
    )
    text = load_shakespeare(args.data)
    tokenizer = CharTokenizer.from_text(text)
    splits = split_data(encode_text(text, tokenizer))
    if args.threads is None:
        torch.set_num_threads(1)  # these models are too small for threads inside a step to pay
    workers = args.workers or default_workers(len(rungs) * len(args.seed))
    start, results = time.perf_counter(), []
    for result in climb(rungs, splits, tokenizer, settings, workers, args.seed):
        results.append(result)
        print(json.dumps(result.to_dict()) if args.json else _ladder_line(result), flush=True)
    seconds = time.perf_counter() - start
    print(f"{len(results)} rungs in {seconds:.1f}s with {workers} worker(s)", file=sys.stderr)
    if args.out:
        info = {
            "command": _ladder_command(args),
            "wall_seconds": round(seconds, 1),
            "workers": workers,
            "dataset_sha256": sha256_hex(text.encode("utf-8")),
            "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%d"),
        }
        print(f"saved {write_results(args.out, results, settings, info)}", file=sys.stderr)
    return 0


def _ladder_line(r) -> str:
    lecture = f" (lecture {r.lecture_val:.2f})" if r.lecture_val else ""
    return (
        f"{r.rung:>12}  val {r.val_loss:.4f}{lecture}  train {r.train_loss:.4f}  {r.params:>7,} params  "
        f"{r.seconds:6.1f}s  {r.steps_per_sec:,.0f} steps/s  seed {r.seed}"
    )


def _ladder_command(args) -> str:
    """The command that reproduces these results (its settings spelled out)."""
    parts = ["python -m tinygpt ladder", "--rungs", *args.rungs, "--max-steps", str(args.max_steps)]
    parts += ["--seed", *map(str, args.seed), "--eval-iters", str(args.eval_iters)]
    if args.eval_interval:
        parts += ["--eval-interval", str(args.eval_interval)]
    if args.sample_tokens:
        parts += ["--sample-tokens", str(args.sample_tokens)]
    if args.data:
        parts += ["--data", args.data]
    return " ".join([*parts, "--json", "--out", args.out])
