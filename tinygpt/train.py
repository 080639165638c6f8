"""The training loop, written as a generator of small events.

`train(model, splits, cfg)` yields StepEvent, EvalEvent, SampleEvent, CheckpointEvent and a final
DoneEvent; the CLI prints them, the Train page charts them, the tests count them (minGPT's
Trainer calls callbacks at the same points). The optimizers (`optim.py`), warmup + cosine
learning rate, gradient clipping, mixed precision and data-parallel training under torchrun follow
nanoGPT's `train.py`. A diverging loss stops the run (TrainingDiverged); checkpoints carry what a
resumed run needs (`train(..., resume=path)` continues it exactly).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from functools import partial

import torch

from . import distributed
from .checkpoint import TrainState, load_train_state, save_checkpoint
from .data import Splits, bits_per_char, get_batch
from .device import autocast, compile_model, configure_device, resolve_device, resolve_dtype, to_device
from .gpt import ConfigError
from .optim import OPTIMIZERS, Optimizers, configure_optimizer
from .sample import SampleConfig, generate_text


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32  # rows per optimizer step, over all processes and micro-batches together
    block_size: int | None = None  # None: the GPT's block_size (8 for the bigram)
    max_steps: int | None = 2000  # counted from the run's start, also when it is resumed
    max_seconds: float | None = None  # a time budget; the first of the two limits ends the run
    learning_rate: float = 1e-3
    min_lr: float | None = None  # None: learning_rate / 10
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 turns clipping off
    optimizer: str = "adamw"  # adamw, or muon: Muon for the blocks' matrices, AdamW for the rest
    muon_lr: float = 0.02  # Muon's peak learning rate (its schedule follows learning_rate's)
    grad_accum: int = 1  # micro-batches per step in each process: less memory, the same batch
    eval_interval: int = 200
    eval_iters: int = 50
    sample_tokens: int = 0  # > 0: a text sample of this length at every evaluation
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"  # auto, float32 or bfloat16 (autocast)
    compile: bool = False  # torch.compile the model (falls back to eager where it cannot compile)
    checkpoint_path: str | None = None  # saved at every evaluation and at the end

    def __post_init__(self):
        ConfigError.check(train_config_problems(self))

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """The training recipe `name` (a row of `RECIPES`: a GPT preset's, or "bigram"), with `overrides`."""
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
        return cls(**{**RECIPES[name], **overrides})


# Every training recipe in one table. A row overrides TrainConfig's defaults; a GPT preset of the same
# name (tinygpt.gpt.PRESETS) gives the model's shape. The command line (`TrainConfig.preset`) and the
# Train page (course.plan, which adds only how long a run on the page lasts) read these rows, and
# docs/training.md prints them (tests/test_recipes.py checks that all three agree).
RECIPES: dict[str, dict] = {
    # Below val 1.88 in seconds on a 2-core CPU: Muon for the blocks' matrices, small batches for many
    # steps, a short warmup (docs/training.md, bench/bench_time_to_target.py).
    "cpu": dict(
        batch_size=24,
        optimizer="muon",
        muon_lr=0.04,
        learning_rate=6e-3,
        warmup_steps=15,
        max_steps=400,
        eval_interval=200,
        eval_iters=40,
    ),
    # The lecture's model, rate, batch and length, trained as nanoGPT trains: warmup, cosine decay,
    # AdamW with decay on matrices only, clipping.
    "lecture": dict(
        batch_size=64, learning_rate=3e-4, warmup_steps=100, max_steps=5000, eval_interval=500, eval_iters=200
    ),
    # The lecture's recipe, exactly: constant learning rate 3e-4, AdamW's defaults (betas 0.9 and
    # 0.999, weight decay 0.01), no warmup, no clipping, fp32; 5,000 steps of 64 x 256 characters.
    "lecture-exact": dict(
        dtype="float32",
        batch_size=64,
        learning_rate=3e-4,
        min_lr=3e-4,
        warmup_steps=0,
        weight_decay=0.01,
        beta2=0.999,
        grad_clip=0.0,
        max_steps=5000,
        eval_interval=500,
        eval_iters=200,
    ),
    # The shipped model's recipe (docs/pretrained.md).
    "small": dict(
        batch_size=64,
        learning_rate=2e-3,
        min_lr=2e-4,
        warmup_steps=200,
        max_steps=5000,
        eval_interval=500,
        eval_iters=40,
    ),
    # For tests and a first look: seconds on any CPU.
    "tiny": dict(
        batch_size=16, learning_rate=1e-2, warmup_steps=5, max_steps=200, eval_interval=10, eval_iters=2
    ),
    # The bigram, a single lookup table: a large rate without weight decay brings it to its floor within
    # a few hundred steps, so it keeps pace with the GPT in a race.
    "bigram": dict(learning_rate=0.1, weight_decay=0.0),
    # The lecture's loop for its small models (course/rungs.py, the ladder): torch.optim.AdamW's defaults
    # at a constant 1e-3, no warmup, no clipping, batch 32 of 8 characters, 5,000 steps, fp32 on the CPU
    # (models this small are bound by the cost of each PyTorch call, which a GPU does not lower).
    "ladder": dict(
        batch_size=32,
        block_size=8,
        max_steps=5000,
        learning_rate=1e-3,
        min_lr=1e-3,
        warmup_steps=0,
        weight_decay=0.01,
        beta2=0.999,
        grad_clip=0.0,
        eval_iters=200,
        device="cpu",
        dtype="float32",
    ),
    # The ladder's bigram at the rate of the lecture's bigram.py (at 1e-3 its table, which starts at
    # N(0, 1), is still far from its floor after 5,000 steps).
    "ladder-bigram": dict(learning_rate=1e-2, min_lr=1e-2),
    # A short fine-tune of a trained model on a few examples (lesson 7): the lecture's constant rate, no
    # weight decay, small batches, on the CPU in fp32.
    "fine-tune": dict(
        batch_size=8,
        learning_rate=3e-4,
        min_lr=3e-4,
        warmup_steps=0,
        weight_decay=0.0,
        max_steps=30,
        eval_iters=1,
        device="cpu",
        dtype="float32",
    ),
}
RECIPES["ladder-bigram"] = RECIPES["ladder"] | RECIPES["ladder-bigram"]  # the ladder's row, its own rate


def train_config_problems(cfg: TrainConfig) -> list[str]:
    problems = []
    if cfg.max_steps is None and cfg.max_seconds is None:
        problems.append("give max_steps, max_seconds or both")
    for name in ("batch_size", "eval_interval", "eval_iters", "grad_accum"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} must be at least 1")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        problems.append("max_steps must be at least 1")
    if cfg.max_seconds is not None and cfg.max_seconds <= 0:
        problems.append("max_seconds must be above 0")
    if cfg.block_size is not None and cfg.block_size < 1:
        problems.append("block_size must be at least 1")
    if not cfg.learning_rate > 0:
        problems.append("learning_rate must be above 0")
    if cfg.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {cfg.optimizer!r})")
    elif cfg.optimizer == "muon" and not hasattr(torch.optim, "Muon"):
        problems.append(f"the muon optimizer needs PyTorch 2.9 or later (this is {torch.__version__})")
    if not cfg.muon_lr > 0:
        problems.append("muon_lr must be above 0")
    return problems


@dataclass(frozen=True)
class StepEvent:
    step: int
    loss: float
    lr: float
    tokens_per_sec: float
    elapsed: float


@dataclass(frozen=True)
class EvalEvent:
    step: int
    train_loss: float  # nats per token
    val_loss: float
    elapsed: float
    train_bpc: float  # the same losses in bits per character (`tinygpt.data.bits_per_char`): what
    val_bpc: float  # compares models with different tokenizers


@dataclass(frozen=True)
class SampleEvent:
    step: int
    text: str


@dataclass(frozen=True)
class CheckpointEvent:
    step: int
    path: str
    error: str | None = None  # why the save failed (disk full, read-only folder); training goes on


@dataclass(frozen=True)
class DoneEvent:
    step: int
    elapsed: float
    reason: str  # "max_steps", "max_seconds" or "stopped"


Event = StepEvent | EvalEvent | SampleEvent | CheckpointEvent | DoneEvent
STOP_REASONS = ("stopped", "max_steps", "max_seconds")
# A loss this many times the run's first loss means training has blown up, not a noisy batch.
DIVERGENCE_FACTOR = 1.5


class TrainingDiverged(RuntimeError):
    """The loss became NaN/infinite or exploded: the run stopped, and nothing diverged was saved.
    `last_checkpoint` is the last good checkpoint (None if none was written) and `step` where it broke."""

    def __init__(self, message: str, step: int, loss: float, last_checkpoint: str | None):
        super().__init__(message)
        self.step, self.loss, self.last_checkpoint = step, loss, last_checkpoint


def batch_block_size(model, cfg: TrainConfig) -> int:
    if cfg.block_size is not None:
        return cfg.block_size
    return getattr(model.config, "block_size", 8)


def get_lr(progress: float, step: int, cfg: TrainConfig) -> float:
    """Linear warmup for `warmup_steps`, then cosine decay to min_lr as progress goes 0 -> 1."""
    min_lr = cfg.learning_rate / 10 if cfg.min_lr is None else cfg.min_lr
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return min_lr + coeff * (cfg.learning_rate - min_lr)


@torch.no_grad()
def estimate_loss(model, splits: Splits, block_size: int, cfg: TrainConfig, device: str, dtype) -> dict:
    """Mean loss over `eval_iters` batches of each split; the same batches at every evaluation."""
    was_training = model.training
    model.eval()
    out = {}
    for name in ("train", "val"):
        data = getattr(splits, name)
        g = torch.Generator().manual_seed(cfg.seed + 1)
        losses = torch.zeros(cfg.eval_iters)
        for i in range(cfg.eval_iters):
            x, y = get_batch(data, min(block_size, len(data) - 1), cfg.batch_size, g)
            with autocast(device, dtype):
                _, loss = model(to_device(x, device), to_device(y, device))
            losses[i] = loss.item()
        out[name] = losses.mean().item()
    model.train(was_training)
    return out


def train(
    model,
    splits: Splits,
    cfg: TrainConfig,
    tokenizer=None,
    should_stop: Callable[[], bool] | None = None,
    summary: dict | None = None,
    resume: TrainState | str | os.PathLike | None = None,
) -> Iterator[Event]:
    """Train `model` in place on `splits`, yielding events. `should_stop()` is checked every step;
    when it returns True the run ends after an evaluation (and checkpoint) of what was learned.
    `summary` (e.g. the dataset's checksum) is added to each checkpoint's training summary.
    `resume` (a checkpoint saved by train(), or its TrainState) continues that run: `model` must
    hold its weights (`load_checkpoint(path).model`) and `cfg` its settings (`resume_config`).
    Raises TrainingDiverged when the loss blows up. Under torchrun every process calls train();
    only rank 0 evaluates, samples, saves and yields more than StepEvent and DoneEvent."""
    world = distributed.current()
    device = distributed.device_for(world, resolve_device(cfg.device))
    configure_device(device)
    dtype = resolve_dtype(cfg.dtype, device, getattr(model.config, "n_embd", 0))
    block_size = batch_block_size(model, cfg)
    _check_batch_split(cfg, world)
    torch.manual_seed(cfg.seed + world.rank)  # dropout masks: each process its own
    g = torch.Generator().manual_seed(cfg.seed)  # batches: the same stream in every process
    model.to(device).train()
    optimizer = configure_optimizer(model, cfg, device)
    net = compile_model(model, device) if cfg.compile else model
    net = distributed.wrap(net, world, device)
    run = _RunState(device=device, dtype=str(dtype).removeprefix("torch."), block_size=block_size)
    step, elapsed0 = 0, 0.0
    if resume is not None:
        step, elapsed0 = _restore(resume, model, optimizer, g, run, world)
    start = time.perf_counter() - elapsed0
    reason = _stop_reason(step, elapsed0, cfg, None)  # a resumed run may have nothing left to do
    while reason is None:
        elapsed = time.perf_counter() - start
        lr = get_lr(_progress(step, elapsed, cfg), step, cfg)
        optimizer.set_lr(lr / cfg.learning_rate)
        t0 = time.perf_counter()
        loss = _train_step(net, optimizer, splits.train, block_size, cfg, g, device, dtype, world)
        step += 1
        dt = time.perf_counter() - t0
        elapsed = time.perf_counter() - start
        loss = distributed.mean(loss, world)
        run.first_loss = run.first_loss or loss
        _check_divergence(loss, step, cfg, run)
        yield StepEvent(step, loss, lr, cfg.batch_size * block_size / dt, elapsed)
        reason = _stop_reason(step, elapsed, cfg, should_stop) if world.is_main else None
        reason = distributed.decision(reason, STOP_REASONS, world)
        if world.is_main and (step % cfg.eval_interval == 0 or reason is not None):
            capture = partial(_capture, model, optimizer, g, run, step, start, cfg)
            yield from _evaluate(model, splits, cfg, tokenizer, run, step, start, summary, capture)
    distributed.barrier(world)  # the other processes wait while rank 0 saves the last checkpoint
    yield DoneEvent(step, time.perf_counter() - start, reason)


def resume_config(state: TrainState | str | os.PathLike, **changes) -> TrainConfig:
    """The TrainConfig a checkpoint's run was trained with, with `changes` (e.g. a larger
    max_steps to train on past the old end, or a new checkpoint_path)."""
    state = state if isinstance(state, TrainState) else load_train_state(state)
    names = {f.name for f in fields(TrainConfig)}
    saved = {k: v for k, v in state.info["train_config"].items() if k in names}
    return TrainConfig(**{**saved, **changes})


@dataclass
class _RunState:
    device: str
    dtype: str
    block_size: int
    history: list = field(default_factory=list)  # every evaluation so far, saved with checkpoints
    first_loss: float | None = None  # the run's first loss: what the divergence guard compares with
    last_saved: tuple[int, str] | None = None  # (step, path) of the last good checkpoint


def _check_batch_split(cfg: TrainConfig, world: distributed.World) -> None:
    parts = world.size * cfg.grad_accum
    if cfg.batch_size % parts:
        raise ValueError(
            f"batch_size {cfg.batch_size} does not split evenly into {world.size} process(es) x "
            f"{cfg.grad_accum} micro-batch(es): choose a multiple of {parts}"
        )


def _train_step(net, optimizer, data, block_size, cfg, g, device, dtype, world) -> float:
    """One optimizer step over the global batch: every process draws the same batch and trains on
    its own rows, in `grad_accum` micro-batches; DDP averages the gradients. Returns this process's
    mean loss."""
    x, y = get_batch(data, block_size, cfg.batch_size, g)  # (B, T) each, identical in every process
    rows = cfg.batch_size // world.size
    x, y = x[world.rank * rows : (world.rank + 1) * rows], y[world.rank * rows : (world.rank + 1) * rows]
    optimizer.zero_grad()
    total = 0.0
    for i, (xb, yb) in enumerate(zip(x.chunk(cfg.grad_accum), y.chunk(cfg.grad_accum), strict=True)):
        with distributed.sync_gradients(net, last=i == cfg.grad_accum - 1):
            with autocast(device, dtype):
                _, loss = net(to_device(xb, device), to_device(yb, device))
            (loss / cfg.grad_accum).backward()
        total += loss.item()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
    optimizer.step()
    return total / cfg.grad_accum


def _check_divergence(loss: float, step: int, cfg: TrainConfig, run: _RunState) -> None:
    if math.isfinite(loss) and loss <= DIVERGENCE_FACTOR * run.first_loss:
        return
    what = f"became {loss}" if not math.isfinite(loss) else f"rose to {loss:.4g} from {run.first_loss:.2f}"
    if run.last_saved:
        kept = f"The last good checkpoint (step {run.last_saved[0]}) is kept at {run.last_saved[1]}."
    else:
        kept = "No checkpoint was saved: the run diverged before its first evaluation."
    rate = f"learning rate ({cfg.learning_rate:g}"
    rate += f", Muon's {cfg.muon_lr:g})" if cfg.optimizer == "muon" else ")"
    message = (
        f"Training diverged at step {step}: the loss {what}. The {rate} is the likely cause: try one "
        f"3 to 10 times lower, or more warmup steps. {kept}"
    )
    raise TrainingDiverged(message, step, loss, run.last_saved[1] if run.last_saved else None)


def _progress(step: int, elapsed: float, cfg: TrainConfig) -> float:
    fractions = []
    if cfg.max_steps:
        fractions.append(step / cfg.max_steps)
    if cfg.max_seconds:
        fractions.append(elapsed / cfg.max_seconds)
    return max(fractions)


def budget_spent(step: int, elapsed: float, cfg: TrainConfig) -> str | None:
    """Which budget a run at `step` after `elapsed` seconds has used up ("max_steps" or
    "max_seconds"), or None while it may go on: the one rule for when training ends."""
    if cfg.max_steps is not None and step >= cfg.max_steps:
        return "max_steps"
    if cfg.max_seconds is not None and elapsed >= cfg.max_seconds:
        return "max_seconds"
    return None


def _stop_reason(step, elapsed, cfg: TrainConfig, should_stop) -> str | None:
    if should_stop is not None and should_stop():
        return "stopped"
    return budget_spent(step, elapsed, cfg)


def _evaluate(model, splits, cfg, tokenizer, run: _RunState, step, start, summary, capture):
    losses = estimate_loss(model, splits, run.block_size, cfg, run.device, getattr(torch, run.dtype))
    for name in ("train", "val"):
        _check_divergence(losses[name], step, cfg, run)
    elapsed = time.perf_counter() - start
    bpc = {name: bits_per_char(losses[name], _chars_per_token(splits, name)) for name in losses}
    run.history.append(
        {
            "step": step,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
            "train_bpc": bpc["train"],
            "val_bpc": bpc["val"],
            "elapsed": elapsed,
        }
    )
    yield EvalEvent(step, losses["train"], losses["val"], elapsed, bpc["train"], bpc["val"])
    if cfg.sample_tokens > 0 and tokenizer is not None:
        sample_cfg = SampleConfig(max_new_tokens=cfg.sample_tokens, seed=cfg.seed)
        yield SampleEvent(step, generate_text(model, tokenizer, "", sample_cfg))
        model.train()
    if cfg.checkpoint_path and tokenizer is not None:
        info = {
            "steps": step,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
            "train_bpc": bpc["train"],
            "val_bpc": bpc["val"],
            "elapsed_seconds": elapsed,
            "device": run.device,
            "dtype": run.dtype,
            "train_config": asdict(cfg),
            "history": run.history,
            **(summary or {}),
        }
        try:
            path = save_checkpoint(cfg.checkpoint_path, model, tokenizer, info, capture())
        except OSError as e:
            yield CheckpointEvent(step, str(cfg.checkpoint_path), f"could not save: {e.strerror or e}")
        else:
            run.last_saved = (step, str(path))
            yield CheckpointEvent(step, str(path))


def _chars_per_token(splits: Splits, name: str) -> float:
    return splits.chars_per_token if name == "val" else splits.train_chars_per_token


def _capture(model, optimizer: Optimizers, g, run: _RunState, step: int, start: float, cfg) -> TrainState:
    """What a resumed run needs: each parameter's optimizer state (AdamW's moments, Muon's momentum)
    under the parameter's name, the random states (dropout, batches), the step and the clock (the
    schedule's position), and the run's history."""
    tensors = {"rng.torch": torch.get_rng_state(), "rng.batches": g.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors |= {f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    tensors |= optimizer.state_tensors(model)
    info = {
        "step": step,
        "elapsed": time.perf_counter() - start,  # the clock of a time budget goes on from here
        "first_loss": run.first_loss,
        "history": run.history,
        "train_config": asdict(cfg),
    }
    return TrainState(info, tensors)


def _restore(resume, model, optimizer: Optimizers, g, run: _RunState, world) -> tuple[int, float]:
    """Load a TrainState into the optimizers, the random generators and `run`; returns (step, elapsed)."""
    state = resume if isinstance(resume, TrainState) else load_train_state(resume)
    optimizer.load_state_tensors(model, state.tensors)
    g.set_state(state.tensors["rng.batches"])
    if world.is_main:  # the other processes keep their own dropout seeds
        torch.set_rng_state(state.tensors["rng.torch"])
    cuda = [state.tensors[k] for k in sorted(state.tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    run.history = list(state.info.get("history", []))
    run.first_loss = state.info.get("first_loss")
    if isinstance(resume, (str, os.PathLike)):
        run.last_saved = (state.info["step"], str(resume))
    return int(state.info["step"]), float(state.info["elapsed"])
