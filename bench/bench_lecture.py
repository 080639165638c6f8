"""Training throughput at the lecture's size (6 layers x 384, block 256, batch 64, dropout 0.2): tokens/s of
the lecture's own `gpt.py` against tinygpt's training loop on the same model, in one process.

The lecture's code is not part of this project: pass the path of its gpt.py (from
github.com/karpathy/ng-video-lecture). Its definitions (data, get_batch, the model classes) run here, up
to the line that builds the model; its training step (get_batch, forward, zero_grad, backward, AdamW
step) is timed exactly as its loop runs it. tinygpt runs the `lecture-exact` preset (ReLU, biases,
AdamW at 3e-4, no clipping: the same model and recipe) through `tinygpt.train`, in fp32 with explicit
attention (the lecture's arithmetic), with the device's defaults (bf16 autocast on a CPU that has it),
and with --compile also compiled (torch.compile: minutes to compile on 2 cores, and slower here). Rounds
alternate the variants so that a busy machine slows them alike; each variant's tokens/s is its median
over the rounds.

  python bench/bench_lecture.py --lecture path/to/ng-video-lecture/gpt.py [--rounds 3] [--steps 2]
Prints one JSON line per variant with its ratio to the lecture's code measured in the same run. The
variant `matmuls_only_fp32` is no training step: it times only the step's matrix products in fp32, the
ceiling that no fp32 step of this model can pass on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from bench.machine import machine
from tinygpt import CharTokenizer, GPTConfig, TrainConfig, build_model, encode_text, split_data
from tinygpt.device import compiler_available, describe_device, use_threads
from tinygpt.train import StepEvent, train

BUILD_LINE = "model = GPTLanguageModel()"


def lecture_step(path: Path):
    """The lecture's model and one training step of its loop, from its own source (run up to the
    line that builds the model, in its folder, where its input.txt lies)."""
    source = path.read_text(encoding="utf-8")
    if BUILD_LINE not in source:
        raise SystemExit(f"{path} does not look like the lecture's gpt.py (no {BUILD_LINE!r})")
    namespace = {"__name__": "lecture_gpt"}
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        exec(compile(source.split(BUILD_LINE)[0], str(path), "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    model = namespace["GPTLanguageModel"]().to(namespace["device"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=namespace["learning_rate"])
    get_batch = namespace["get_batch"]

    def step() -> float:
        t0 = time.perf_counter()
        xb, yb = get_batch("train")
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        return time.perf_counter() - t0

    tokens = namespace["batch_size"] * namespace["block_size"]
    shape = {k: namespace[k] for k in ("n_layer", "n_embd", "n_head", "block_size", "batch_size", "dropout")}
    return step, tokens, shape


def tinygpt_steps(splits, vocab_size: int, **train_changes):
    """A `tinygpt.train` run of the lecture-exact preset, advanced one step at a time."""
    torch.manual_seed(1337)
    model = build_model("gpt", GPTConfig.preset("lecture-exact", vocab_size=vocab_size))
    cfg = TrainConfig.preset("lecture-exact", max_steps=10**6, eval_interval=10**9, **train_changes)
    events = train(model, splits, cfg)

    def step() -> float:
        event = next(e for e in events if isinstance(e, StepEvent))
        return cfg.batch_size * model.config.block_size / event.tokens_per_sec

    return step


def matmul_floor(shape: dict):
    """The matrix products of one training step at the lecture's shape and nothing else, in fp32:
    each linear layer's forward product and its two backward products (input and weight
    gradients), and attention's two batched products with their four backward ones. Any fp32 step
    of this model, ours or the lecture's, takes at least this long."""
    n, c, nh, t = shape["n_layer"], shape["n_embd"], shape["n_head"], shape["block_size"]
    rows, hs, b = shape["batch_size"] * t, c // nh, shape["batch_size"] * nh
    linears = [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)] * n + [(c, 65)]  # (in, out); head: 65 characters
    work = []
    for fan_in, fan_out in linears:
        x, w, g = torch.randn(rows, fan_in), torch.randn(fan_out, fan_in), torch.randn(rows, fan_out)
        work += [lambda x=x, w=w: x @ w.t(), lambda g=g, w=w: g @ w, lambda g=g, x=x: g.t() @ x]
    q, k, a = torch.randn(b, t, hs), torch.randn(b, t, hs), torch.randn(b, t, t)
    for _ in range(n):  # q k^T and att v, forward, then two gradients each
        work += [lambda: q @ k.transpose(1, 2), lambda: a @ k] * 3

    def step() -> float:
        t0 = time.perf_counter()
        for product in work:
            product()
        return time.perf_counter() - t0

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lecture", required=True, help="the lecture's gpt.py (ng-video-lecture)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="add a torch.compile variant")
    args = parser.parse_args()
    threads = use_threads(args.threads).n
    path = Path(args.lecture).resolve()
    lecture, tokens, shape = lecture_step(path)
    text = (path.parent / "input.txt").read_text(encoding="utf-8")
    tok = CharTokenizer.from_text(text)
    splits = split_data(encode_text(text, tok))
    variants = {
        "lecture_code": lecture,
        "tinygpt_fp32_explicit": tinygpt_steps(splits, tok.vocab_size, dtype="float32"),
        "tinygpt_default": tinygpt_steps(splits, tok.vocab_size),
    }
    variants["matmuls_only_fp32"] = matmul_floor(shape)  # not a training step: the floor under one
    if args.compile and compiler_available("cpu"):
        variants["tinygpt_compiled"] = tinygpt_steps(splits, tok.vocab_size, compile=True)
    for step in variants.values():  # first steps: allocations, and torch.compile's compilation
        for _ in range(args.warmup):
            step()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, step in variants.items():
            seconds = sum(step() for _ in range(args.steps))
            rates[name].append(args.steps * tokens / seconds)
    base = statistics.median(rates["lecture_code"])
    for name, values in rates.items():
        row = {
            "bench": "lecture_throughput",
            "variant": name,
            "tokens_per_sec": round(statistics.median(values)),
            "rounds": [round(v) for v in values],
            "vs_lecture_code": round(statistics.median(values) / base, 2),
            "shape": shape,
            "device": describe_device("cpu"),
            "machine": machine(),
            "threads": threads,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
