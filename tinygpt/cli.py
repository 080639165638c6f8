"""The command line: `tinygpt train | sample | eval | ladder` (or `python -m tinygpt ...`), over the
library's dataclasses. Every flag's help gives its default; `--help` ends with these examples.

Examples:
  tinygpt train --model gpt --preset cpu --data input.txt --max-steps 500 --out run.safetensors
  tinygpt train --tokenizer bpe --vocab-size 512 --tie-weights --norm rmsnorm --out bpe.safetensors
  tinygpt train --resume run.safetensors --max-steps 1000
  torchrun --standalone --nproc_per_node=2 -m tinygpt train --preset lecture --out run.safetensors
  tinygpt sample --checkpoint run.safetensors --prompt "ROMEO:" --max-new-tokens 300 --seed 1
  tinygpt eval --checkpoint run.safetensors --data input.txt --json
  tinygpt ladder --json
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import typing
from dataclasses import fields

import torch

from . import distributed
from .checkpoint import CheckpointError, load_checkpoint, load_train_state
from .corpus import DatasetError, load_shakespeare, sha256_hex
from .data import TokenizerError, bits_per_char, encode_splits, split_text
from .device import available_cores, resolve_device, resolve_dtype, use_threads
from .gpt import NORM_POSITIONS, NORMS, PRESETS
from .models import MODEL_TYPES, build_model, count_parameters, make_config
from .optim import OPTIMIZERS, describe_optimizer
from .sample import SampleConfig, decode_stream, encode_prompt, generate, generate_text
from .tokenizers import DEFAULT_VOCAB_SIZE, TOKENIZERS, tokenizer_for
from .train import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StepEvent,
    TrainConfig,
    TrainingDiverged,
    budget_spent,
    estimate_loss,
    resume_config,
    train,
)

GPT_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "norm", "norm_position", "tie_weights")
SAMPLE_FIELDS = tuple(f.name for f in fields(SampleConfig))
SAMPLE_FLAGS = tuple(name for name in SAMPLE_FIELDS if name != "use_cache")  # that one is --no-cache
TRAIN_FLAGS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("checkpoint_path", "block_size"))
DTYPES = ("auto", "float32", "bfloat16")  # what tinygpt.device.resolve_dtype accepts
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # what tinygpt.device.resolve_device accepts
FINAL_SAMPLE_TOKENS = 200  # the sample `train` prints at the end when --sample-tokens gave none
EXAMPLES = __doc__[__doc__.index("Examples:") :].rstrip()

# One line per flag generated from a dataclass field (the comments beside TrainConfig's and
# SampleConfig's fields say more); a test checks that every flag has one.
FIELD_HELP = {
    "n_layer": "Transformer blocks",
    "n_head": "attention heads per block (n_embd a multiple of it)",
    "n_embd": "embedding width, the residual stream's size",
    "block_size": "context length in tokens (for the bigram: the batches' length)",
    "dropout": "dropout probability while training",
    "norm": "layernorm, or rmsnorm (scale only: no mean, no bias, as in LLaMA)",
    "norm_position": "pre: x + f(norm(x)) (GPT-2, the lecture); post: norm(x + f(x)) (the 2017 paper)",
    "tie_weights": "the LM head reuses the token embedding matrix (GPT-2's weight tying)",
    "batch_size": "rows per optimizer step, over all processes and micro-batches together",
    "max_steps": "stop after this many steps, counted from the run's start (also when resumed)",
    "max_seconds": "stop after this many seconds of training; the first of the two limits ends the run",
    "learning_rate": "peak learning rate (AdamW's), reached after the warmup, then cosine decay",
    "min_lr": "the learning rate at the end of the decay (unset: learning_rate / 10)",
    "warmup_steps": "steps of linear warmup to the peak learning rate",
    "weight_decay": "AdamW's weight decay, on matrices and embeddings only",
    "beta1": "AdamW's beta1 (momentum)",
    "beta2": "AdamW's beta2",
    "grad_clip": "clip the gradients' norm to this (0: no clipping)",
    "optimizer": "adamw, or muon: Muon for the blocks' matrices, AdamW for the rest",
    "muon_lr": "Muon's peak learning rate (its schedule follows learning_rate's)",
    "grad_accum": "micro-batches per step in each process: less memory, the same batch",
    "eval_interval": "evaluate (and save the checkpoint) every this many steps",
    "eval_iters": "batches per loss estimate",
    "sample_tokens": "a text sample of this many tokens at every evaluation (0: none)",
    "seed": "random seed",
    "device": "where to run: auto picks CUDA, then MPS, then the CPU",
    "dtype": "float32, or bfloat16 autocast; auto uses bf16 where it pays",
    "compile": "torch.compile the model (falls back to eager where it cannot)",
    "max_new_tokens": "how many tokens to generate",
    "temperature": "divide the logits by this before sampling (above 0; lower is more conservative)",
    "top_k": "sample only from the k most likely tokens (unset: from all)",
    "greedy": "always take the most likely token instead of sampling",
}
FIELD_CHOICES = {"optimizer": OPTIMIZERS, "dtype": DTYPES, "norm": NORMS, "norm_position": NORM_POSITIONS}


class CLIError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


def main(argv: list[str] | None = None, prog: str = "tinygpt") -> int:
    """Run one command (`argv`: its words, by default the command line's); returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    # torchrun's processes on one machine share its cores (nanoGPT's OMP_NUM_THREADS=1, generalised)
    use_threads(args.threads or max(1, available_cores() // distributed.local_processes()))
    try:
        return args.func(args)
    except TrainingDiverged as e:
        print(f"tinygpt {args.command}: {e}", file=sys.stderr)
        return 1
    except (CLIError, DatasetError, CheckpointError, TokenizerError, ValueError) as e:
        print(f"tinygpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinygpt {args.command}: interrupted", file=sys.stderr)
        return 130


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each flag's help ends with its default (unless it is unset or the help says it), and the
    description and examples keep their lines."""

    def _get_help_string(self, action):
        text = action.help or ""
        silent = action.default in (None, argparse.SUPPRESS) or (
            action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
        )
        if silent or "%(default)" in text or "default:" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(prog: str = "tinygpt") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], epilog=EXAMPLES, formatter_class=HelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_train_parser, add_sample_parser, add_eval_parser, add_ladder_parser):
        add(sub)
    return parser


def add_command(sub, name: str, help: str, description: str = "") -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the module docstring's examples of it."""
    examples = [line for line in EXAMPLES.splitlines()[1:] if f" {name} " in f"{line} "]
    return sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(
            f"{help[0].upper()}{help[1:]}. {description}".replace("%%", "%").strip(), 80
        ),
        epilog="\n".join(["Examples:", *examples]),
        formatter_class=HelpFormatter,
    )


def add_config_flags(p, cls, names, defaults=None, default_note: str = "") -> None:
    """One flag per field of the dataclass `cls` (--max-new-tokens for max_new_tokens), typed from
    its annotation, with its line of FIELD_HELP; a bool field gets --x / --no-x. Defaults come from
    the instance `defaults`; without one, `default_note` tells where they come from."""
    hints = typing.get_type_hints(cls)
    for name in names:
        flag, default = f"--{name.replace('_', '-')}", getattr(defaults, name, None)
        text = FIELD_HELP.get(name, "")
        if defaults is None and default_note:
            value = getattr(cls(), name)
            text += f" (default: {default_note.format('unset' if value is None else value)})"
        if hints[name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif name == "device":
            p.add_argument(
                flag, type=_device, default=default, metavar="{" + ",".join(DEVICES) + "}", help=text
            )
        else:
            kind = _flag_type(hints[name])
            p.add_argument(flag, type=kind, default=default, choices=FIELD_CHOICES.get(name), help=text)


def _device(name: str) -> str:
    """argparse's check of --device: one of DEVICES (cuda:N with a number)."""
    kind, _, index = name.partition(":")
    if kind not in ("auto", "cpu", "cuda", "mps") or (index and not (kind == "cuda" and index.isdigit())):
        raise argparse.ArgumentTypeError(f"invalid device {name!r} (choose from {', '.join(DEVICES)})")
    return name


def add_train_parser(sub) -> None:
    p = add_command(
        sub,
        "train",
        "train a bigram or GPT on a text and save a checkpoint",
        "The preset sets the model's size and its training recipe, which changes some of the defaults "
        "below (docs/training.md); each flag given changes one setting. With --resume, the saved "
        "run's settings are the defaults.",
    )
    p.add_argument("--model", choices=MODEL_TYPES, default=None, help="which model (default: gpt)")
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="GPT size and its training recipe (default: cpu)",
    )
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare, downloaded once)")
    p.add_argument("--out", help="checkpoint to write (.safetensors); with --resume, default: that file")
    p.add_argument("--resume", help="continue the run saved in this checkpoint, with its settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar or samples")
    p.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=None,
        help="what a token is: char (the lecture's), bpe (byte-pair encoding) or word (with an unknown-word "
        "token); bpe and word learn their vocabulary from the training 90%% (default: char)",
    )
    p.add_argument(
        "--vocab-size",
        type=int,
        default=None,
        help="tokens in a bpe or word vocabulary (default: "
        + ", ".join(f"{n} for {k}" for k, n in DEFAULT_VOCAB_SIZE.items())
        + ")",
    )
    for name in GPT_FLAGS:
        _add_gpt_flag(p, name)
    add_config_flags(p, TrainConfig, TRAIN_FLAGS, default_note="{} or the recipe's")
    p.set_defaults(func=cmd_train)


def _add_gpt_flag(p, name: str) -> None:
    """A flag for one GPTConfig field, unset by default (the preset's value then)."""
    flag, text = f"--{name.replace('_', '-')}", f"{FIELD_HELP[name]} (default: the preset's)"
    if name == "tie_weights":
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
    elif name in FIELD_CHOICES:
        p.add_argument(flag, choices=FIELD_CHOICES[name], default=None, help=text)
    else:
        p.add_argument(flag, type=float if name == "dropout" else int, help=text)


def add_sample_parser(sub) -> None:
    p = add_command(sub, "sample", "generate text from a checkpoint")
    p.add_argument("--checkpoint", required=True, help="a .safetensors file that train saved")
    p.add_argument("--prompt", default="", help="the text to continue (default: none)")
    add_config_flags(p, SampleConfig, SAMPLE_FLAGS, SampleConfig())
    p.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="no KV cache: recompute the whole window for every token (slower, the same text)",
    )
    p.set_defaults(func=cmd_sample)


def add_eval_parser(sub) -> None:
    p = add_command(
        sub, "eval", "validation loss and bits per character of a checkpoint on a text's last 10%%"
    )
    p.add_argument("--checkpoint", required=True, help="a .safetensors file that train saved")
    p.add_argument("--data", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--eval-iters", type=int, default=200, help="batches to average")
    p.add_argument("--batch-size", type=int, default=64, help="rows per batch")
    p.add_argument("--seed", type=int, default=1337, help="random seed of the batches")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)


def add_ladder_parser(sub) -> None:
    """`ladder` trains the course's experiment (course/rungs.py), not the library's code: the one place
    the library reaches into the course, and only to build the command line. Lifted into a project
    without the course, the library has no `ladder` command and works as before."""
    try:
        from course.ladder_command import add_ladder_parser as add_course_ladder
    except ImportError:
        return
    add_course_ladder(sub, add_command)


def _flag_type(hint):
    """argparse's type for a TrainConfig field's type hint, e.g. float | None -> float."""
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (int, float, str):
        raise TypeError(f"no command-line type for {hint!r}")
    return kinds[0]


def cmd_train(args) -> int:
    text = load_shakespeare(args.data)
    train_args = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    if args.resume:
        model, tokenizer, cfg, resume = _resumed_run(args, text, train_args)
    else:
        if not args.out:
            raise CLIError("give --out, the checkpoint file to write (or --resume a saved run)")
        tokenizer = _new_tokenizer(args, text)
        model, cfg = _new_run(args, tokenizer, train_args)
        resume = None
    world = distributed.init(resolve_device(cfg.device))
    args.quiet = args.quiet or not world.is_main
    train_text, val_text = split_text(text)
    splits = encode_splits(train_text, val_text, tokenizer)
    device = distributed.device_for(world, resolve_device(cfg.device))
    dtype = resolve_dtype(cfg.dtype, device, getattr(model.config, "n_embd", 0))
    processes = f" x {world.size} processes" if world.size > 1 else ""
    if world.is_main:  # even with --quiet: which optimizer and precision ran is part of the result
        print(
            f"{model.model_type}: {count_parameters(model):,} parameters on {device}{processes} "
            f"({str(dtype).removeprefix('torch.')}), {describe_optimizer(cfg, device)}; "
            f"{describe_tokens(tokenizer, splits, val_text)}",
            file=sys.stderr,
        )
    summary = {"dataset_sha256": sha256_hex(text.encode("utf-8")), "dataset_chars": len(text)}
    try:
        saved = _run_training(args, model, splits, cfg, tokenizer, summary, resume, world)
    finally:
        distributed.shutdown()
    if world.is_main and not args.quiet and cfg.sample_tokens == 0:  # none seen yet: one at the end
        sample_cfg = SampleConfig(max_new_tokens=FINAL_SAMPLE_TOKENS, seed=cfg.seed)
        print(f"sample:\n{generate_text(model, tokenizer, '', sample_cfg)}")
    return 0 if saved or not world.is_main else 1


def _new_tokenizer(args, text: str):
    """The tokenizer --tokenizer and --vocab-size ask for, learned from `text` (see tokenizer_for)."""
    kind = args.tokenizer or "char"
    if kind == "char" and args.vocab_size is not None:
        raise CLIError("--vocab-size applies to --tokenizer bpe or word (characters have the text's own)")
    return tokenizer_for(kind, text, args.vocab_size)


def describe_tokens(tokenizer, splits, val_text: str) -> str:
    """'bpe tokens: vocabulary 512, 1.88 characters per token; 1,103,289 tokens' (and, for words,
    how much of the validation text hides behind the unknown token)."""
    n = len(splits.train) + len(splits.val)
    line = (
        f"{tokenizer.kind} tokens: vocabulary {tokenizer.vocab_size:,}, "
        f"{splits.chars_per_token:.2f} characters per token; {n:,} tokens"
    )
    if hasattr(tokenizer, "unknown_fraction"):
        line += f"; {tokenizer.unknown_fraction(val_text):.1%} of validation characters in unknown words"
    return line


def _new_run(args, tokenizer, train_args: dict):
    """The model and TrainConfig of a fresh run: the preset's shape and recipe, then the flags."""
    model_type, preset = args.model or "gpt", args.preset or "cpu"
    overrides = {k: getattr(args, k) for k in GPT_FLAGS if getattr(args, k) is not None}
    if model_type == "bigram":
        if "block_size" in overrides:  # the bigram has no context; it sets the batches' length
            train_args["block_size"] = overrides.pop("block_size")
        if overrides:
            raise CLIError(f"--{next(iter(overrides)).replace('_', '-')} applies to --model gpt only")
    config = make_config(model_type, tokenizer.vocab_size, preset, **overrides)
    recipe = preset if model_type == "gpt" else "bigram"
    cfg = TrainConfig.preset(recipe, **train_args, checkpoint_path=args.out)
    torch.manual_seed(cfg.seed)  # the same initial weights for the same seed (DDP copies rank 0's)
    return build_model(model_type, config), cfg


def _resumed_run(args, text: str, train_args: dict):
    """The model, tokenizer and settings saved in --resume's checkpoint, with the flags' changes."""
    names = ("model", "preset", "tokenizer", "vocab_size", *GPT_FLAGS)
    shape = [f"--{k.replace('_', '-')}" for k in names if getattr(args, k) is not None]
    if shape:
        raise CLIError(f"{shape[0]} cannot change a resumed run: the model comes from {args.resume}")
    ckpt = load_checkpoint(args.resume)
    state = load_train_state(args.resume)
    if ckpt.summary.get("dataset_sha256") not in (None, sha256_hex(text.encode("utf-8"))):
        raise CLIError(f"{args.resume} was trained on another text: give the same --data to resume it")
    cfg = resume_config(state, **train_args, checkpoint_path=args.out or args.resume)
    step, elapsed = state.info["step"], state.info["elapsed"]
    if budget_spent(step, elapsed, cfg):
        raise CLIError(
            f"{args.resume} already trained {step} steps in {elapsed:.0f}s, its whole budget: "
            "give a larger --max-steps or --max-seconds to train on"
        )
    return ckpt.model, ckpt.tokenizer, cfg, state


def _run_training(args, model, splits, cfg: TrainConfig, tokenizer, summary, resume, world) -> bool:
    """Train, printing the events; returns whether the final checkpoint was saved."""
    from tqdm import tqdm

    bar = tqdm(total=cfg.max_steps, disable=args.quiet, unit="step", dynamic_ncols=True)
    saved, last = None, None
    try:
        for event in train(model, splits, cfg, tokenizer, summary=summary, resume=resume):
            if isinstance(event, StepEvent):
                bar.update(event.step - bar.n)
                bar.set_postfix(loss=f"{event.loss:.3f}", tok_s=f"{event.tokens_per_sec:,.0f}")
            elif isinstance(event, EvalEvent):
                last = event
                bar.write(
                    f"step {event.step}: train {event.train_loss:.4f}, val {event.val_loss:.4f} per token; "
                    f"val {event.val_bpc:.4f} bits per character ({event.elapsed:.0f}s)"
                )
            elif isinstance(event, SampleEvent) and not args.quiet:
                bar.write(event.text)
            elif isinstance(event, CheckpointEvent) and event.error:
                saved = None
                print(
                    f"warning: step {event.step}: {event.error} ({event.path}); training goes on",
                    file=sys.stderr,
                )
            elif isinstance(event, CheckpointEvent):
                saved = event.path
            elif isinstance(event, DoneEvent) and world.is_main:
                bar.close()
                where = f"saved {saved}" if saved else "NOT saved (see the warnings above)"
                bpc = f"val {last.val_bpc:.4f} bits per character; " if last else ""
                print(f"done after {event.step} steps, {event.elapsed:.1f}s ({event.reason}); {bpc}{where}")
    finally:
        bar.close()
    return saved is not None


def cmd_sample(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    tok = ckpt.tokenizer
    missing = tok.unknown(args.prompt)
    if missing:
        what = "characters" if tok.kind == "char" else "words"
        print(
            f"note: {what} not in the vocabulary, read as {tok.default_replacement()!r}: "
            f"{', '.join(repr(m) for m in missing[:10])}",
            file=sys.stderr,
        )
    ids = encode_prompt(tok, args.prompt)
    cfg = SampleConfig(**{name: getattr(args, name) for name in SAMPLE_FIELDS})
    sys.stdout.write(args.prompt)
    for piece in decode_stream(tok, (s.token for s in generate(ckpt.model, ids, cfg))):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_eval(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    text = load_shakespeare(args.data)
    if ckpt.tokenizer.kind == "char" and (missing := ckpt.tokenizer.unknown(text)):
        raise CLIError(
            f"the text has characters the checkpoint's vocabulary lacks: {''.join(missing[:10])!r}"
        )
    splits = encode_splits(*split_text(text), ckpt.tokenizer)
    cfg = TrainConfig(batch_size=args.batch_size, eval_iters=args.eval_iters, seed=args.seed, dtype="float32")
    block = getattr(ckpt.config, "block_size", 8)
    losses = estimate_loss(ckpt.model, splits, block, cfg, "cpu", torch.float32)
    result = {
        "checkpoint": args.checkpoint,
        "model_type": ckpt.model_type,
        "tokenizer": ckpt.tokenizer.kind,
        "val_loss": losses["val"],
        "train_loss": losses["train"],
        "val_bpc": bits_per_char(losses["val"], splits.chars_per_token),
        "train_bpc": bits_per_char(losses["train"], splits.train_chars_per_token),
        "chars_per_token": splits.chars_per_token,
        "eval_iters": args.eval_iters,
        "batch_size": args.batch_size,
        "block_size": block,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"val loss {losses['val']:.4f} per token, {result['val_bpc']:.4f} bits per character; "
            f"train loss {losses['train']:.4f} ({args.eval_iters} batches of {args.batch_size}x{block} "
            f"{ckpt.tokenizer.kind} tokens)"
        )
    return 0


def _say(args, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)
