"""The command line: `python -m tinygpt train | sample | eval | ladder`, over the library's dataclasses.

Examples:
  python -m tinygpt train --model gpt --preset cpu --data input.txt --max-steps 500 --out run.safetensors
  python -m tinygpt sample --checkpoint run.safetensors --prompt "ROMEO:" --max-new-tokens 300 --seed 1
  python -m tinygpt eval --checkpoint run.safetensors --data input.txt --json
  python -m tinygpt ladder --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing
from dataclasses import fields, replace

import torch

from .checkpoint import CheckpointError, load_checkpoint
from .corpus import DatasetError, load_shakespeare, sha256_hex
from .data import CharTokenizer, TokenizerError, encode_text, split_data
from .device import resolve_device, resolve_dtype, set_threads
from .gpt import PRESETS
from .ladder import RUNGS, LadderSettings, climb, default_workers, select_rungs, write_results
from .models import MODEL_TYPES, build_model, count_parameters, make_config
from .sample import SampleConfig, encode_prompt, generate
from .train import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StepEvent,
    TrainConfig,
    estimate_loss,
    train,
)

GPT_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
TRAIN_FLAGS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("checkpoint_path", "block_size"))


class CLIError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    try:
        return args.func(args)
    except (CLIError, DatasetError, CheckpointError, TokenizerError, ValueError) as e:
        print(f"tinygpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinygpt {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinygpt", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a bigram or GPT on a text and save a checkpoint")
    p.add_argument("--model", choices=MODEL_TYPES, default="gpt")
    p.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="GPT size preset")
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare, downloaded once)")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or samples")
    for name in GPT_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=float if name == "dropout" else int)
    hints = typing.get_type_hints(TrainConfig)
    for name in TRAIN_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=_flag_type(hints[name]), default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate text from a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--prompt", default="")
    p.add_argument("--max-new-tokens", type=int, default=500)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context at every step")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="validation loss of a checkpoint on a text's last 10%%")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--eval-iters", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)
    add_ladder_parser(sub)
    return parser


def add_ladder_parser(sub) -> None:
    d = LadderSettings()
    p = sub.add_parser(
        "ladder", help="train the lecture's ladder, bigram to Transformer, one piece at a time"
    )
    p.add_argument(
        "--rungs",
        nargs="+",
        default=["climb"],
        metavar="RUNG",
        help=f"climb, descent, all or {', '.join(RUNGS)}",
    )
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--seed", type=int, nargs="+", default=[d.seed], help="one climb per seed")
    p.add_argument("--eval-interval", type=int, default=None, help="steps (default: once, at the end)")
    p.add_argument("--eval-iters", type=int, default=d.eval_iters)
    p.add_argument("--sample-tokens", type=int, default=0, help="a text sample of this length per rung")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per idle core)")
    p.add_argument("--json", action="store_true", help="print one JSON object per rung")
    p.add_argument("--out", help="also save every result, with this command, to a JSON file")
    p.set_defaults(func=cmd_ladder)


def _flag_type(hint):
    """argparse's type for a TrainConfig field's type hint, e.g. float | None -> float."""
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (int, float, str):
        raise TypeError(f"no command-line type for {hint!r}")
    return kinds[0]


def cmd_train(args) -> int:
    text = load_shakespeare(args.data)
    tokenizer = CharTokenizer.from_text(text)
    overrides = {k: getattr(args, k) for k in GPT_FLAGS if getattr(args, k) is not None}
    train_args = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    if args.model == "bigram":
        if "block_size" in overrides:  # the bigram has no context; it sets the batches' length
            train_args["block_size"] = overrides.pop("block_size")
        if overrides:
            raise CLIError(f"--{next(iter(overrides)).replace('_', '-')} applies to --model gpt only")
    config = make_config(args.model, tokenizer.vocab_size, args.preset, **overrides)
    cfg = replace(TrainConfig(), **train_args, checkpoint_path=args.out)
    data = encode_text(text, tokenizer)
    splits = split_data(data)
    model = build_model(args.model, config)
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device, getattr(config, "n_embd", 0))
    _say(
        args,
        f"{args.model}: {count_parameters(model):,} parameters on {device} ({dtype}), {len(data):,} tokens",
    )
    summary = {"dataset_sha256": sha256_hex(text.encode("utf-8")), "dataset_chars": len(text)}
    _run_training(args, model, splits, cfg, tokenizer, summary)
    return 0


def _run_training(args, model, splits, cfg: TrainConfig, tokenizer, summary) -> None:
    from tqdm import tqdm

    bar = tqdm(total=cfg.max_steps, disable=args.quiet, unit="step", dynamic_ncols=True)
    try:
        for event in train(model, splits, cfg, tokenizer, summary=summary):
            if isinstance(event, StepEvent):
                bar.update(event.step - bar.n)
                bar.set_postfix(loss=f"{event.loss:.3f}", tok_s=f"{event.tokens_per_sec:,.0f}")
            elif isinstance(event, EvalEvent):
                bar.write(
                    f"step {event.step}: train {event.train_loss:.4f}, val {event.val_loss:.4f} ({event.elapsed:.0f}s)"
                )
            elif isinstance(event, SampleEvent) and not args.quiet:
                bar.write(event.text)
            elif isinstance(event, CheckpointEvent):
                last = event.path
            elif isinstance(event, DoneEvent):
                bar.close()
                print(f"done after {event.step} steps, {event.elapsed:.1f}s ({event.reason}); saved {last}")
    finally:
        bar.close()


def cmd_sample(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    tok = ckpt.tokenizer
    missing = tok.unknown(args.prompt)
    if missing:
        print(f"note: replaced characters not in the vocabulary: {''.join(missing)!r}", file=sys.stderr)
    ids = encode_prompt(tok, args.prompt)
    cfg = SampleConfig(args.max_new_tokens, args.temperature, args.top_k, args.seed, not args.no_cache)
    sys.stdout.write(args.prompt)
    for s in generate(ckpt.model, ids, cfg):
        sys.stdout.write(tok.itos[s.token])
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_eval(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    text = load_shakespeare(args.data)
    missing = ckpt.tokenizer.unknown(text)
    if missing:
        raise CLIError(
            f"the text has characters the checkpoint's vocabulary lacks: {''.join(missing[:10])!r}"
        )
    splits = split_data(encode_text(text, ckpt.tokenizer))
    cfg = TrainConfig(batch_size=args.batch_size, eval_iters=args.eval_iters, seed=args.seed, dtype="float32")
    block = getattr(ckpt.config, "block_size", 8)
    losses = estimate_loss(ckpt.model, splits, block, cfg, "cpu", torch.float32)
    result = {
        "checkpoint": args.checkpoint,
        "model_type": ckpt.model_type,
        "val_loss": losses["val"],
        "train_loss": losses["train"],
        "eval_iters": args.eval_iters,
        "batch_size": args.batch_size,
        "block_size": block,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"val loss {losses['val']:.4f}, train loss {losses['train']:.4f} ({args.eval_iters} batches of {args.batch_size}x{block})"
        )
    return 0


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


def _say(args, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)
