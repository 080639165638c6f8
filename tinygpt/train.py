"""The training loop, written as a generator of small events.

`train(model, splits, cfg)` yields StepEvent, EvalEvent, SampleEvent, CheckpointEvent and a final
DoneEvent; the CLI prints them, the Train page charts them, the tests count them (minGPT's
Trainer calls callbacks at the same points). AdamW with decay/no-decay groups, warmup + cosine
learning rate, gradient clipping and mixed precision follow nanoGPT's `train.py`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch

from .checkpoint import save_checkpoint
from .data import CharTokenizer, Splits, get_batch
from .device import autocast, resolve_device, resolve_dtype, to_device
from .sample import SampleConfig, generate_text


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    block_size: int | None = None  # None: the GPT's block_size (8 for the bigram)
    max_steps: int | None = 2000
    max_seconds: float | None = None  # a time budget; the first of the two limits ends the run
    learning_rate: float = 1e-3
    min_lr: float | None = None  # None: learning_rate / 10
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 turns clipping off
    eval_interval: int = 200
    eval_iters: int = 50
    sample_tokens: int = 0  # > 0: a text sample of this length at every evaluation
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"  # auto, float32 or bfloat16 (autocast)
    checkpoint_path: str | None = None  # saved at every evaluation and at the end

    def __post_init__(self):
        problems = train_config_problems(self)
        if problems:
            raise ValueError("; ".join(problems))


def train_config_problems(cfg: TrainConfig) -> list[str]:
    problems = []
    if cfg.max_steps is None and cfg.max_seconds is None:
        problems.append("give max_steps, max_seconds or both")
    for name in ("batch_size", "eval_interval", "eval_iters"):
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
    train_loss: float
    val_loss: float
    elapsed: float


@dataclass(frozen=True)
class SampleEvent:
    step: int
    text: str


@dataclass(frozen=True)
class CheckpointEvent:
    step: int
    path: str


@dataclass(frozen=True)
class DoneEvent:
    step: int
    elapsed: float
    reason: str  # "max_steps", "max_seconds" or "stopped"


Event = StepEvent | EvalEvent | SampleEvent | CheckpointEvent | DoneEvent


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


def configure_optimizer(model, cfg: TrainConfig, device: str) -> torch.optim.AdamW:
    """AdamW where matrices and embeddings decay and biases and norms (1-D tensors) do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.startswith("cuda")
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), fused=fused)


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
    tokenizer: CharTokenizer | None = None,
    should_stop: Callable[[], bool] | None = None,
    summary: dict | None = None,
) -> Iterator[Event]:
    """Train `model` in place on `splits`, yielding events. `should_stop()` is checked every step;
    when it returns True the run ends after an evaluation (and checkpoint) of what was learned.
    `summary` (e.g. the dataset's checksum) is added to each checkpoint's training summary."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device, getattr(model.config, "n_embd", 0))
    block_size = batch_block_size(model, cfg)
    torch.manual_seed(cfg.seed)  # dropout masks
    g = torch.Generator().manual_seed(cfg.seed)
    model.to(device).train()
    optimizer = configure_optimizer(model, cfg, device)
    run = _RunState(device=device, dtype=str(dtype).removeprefix("torch."), block_size=block_size)
    start = time.perf_counter()
    step = 0
    reason = None
    while reason is None:
        elapsed = time.perf_counter() - start
        lr = get_lr(_progress(step, elapsed, cfg), step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        loss = _train_step(model, optimizer, splits, block_size, cfg, g, device, dtype)
        step += 1
        dt = time.perf_counter() - t0
        elapsed = time.perf_counter() - start
        yield StepEvent(step, loss, lr, cfg.batch_size * block_size / dt, elapsed)
        reason = _stop_reason(step, elapsed, cfg, should_stop)
        if step % cfg.eval_interval == 0 or reason is not None:
            yield from _evaluate(model, splits, cfg, tokenizer, run, step, start, summary)
    yield DoneEvent(step, time.perf_counter() - start, reason)


@dataclass
class _RunState:
    device: str
    dtype: str
    block_size: int
    history: list = field(default_factory=list)  # every evaluation so far, saved with checkpoints


def _train_step(model, optimizer, splits, block_size, cfg, g, device, dtype) -> float:
    x, y = get_batch(splits.train, block_size, cfg.batch_size, g)
    with autocast(device, dtype):
        _, loss = model(to_device(x, device), to_device(y, device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.item()


def _progress(step: int, elapsed: float, cfg: TrainConfig) -> float:
    fractions = []
    if cfg.max_steps:
        fractions.append(step / cfg.max_steps)
    if cfg.max_seconds:
        fractions.append(elapsed / cfg.max_seconds)
    return max(fractions)


def _stop_reason(step, elapsed, cfg: TrainConfig, should_stop) -> str | None:
    if should_stop is not None and should_stop():
        return "stopped"
    if cfg.max_steps is not None and step >= cfg.max_steps:
        return "max_steps"
    if cfg.max_seconds is not None and elapsed >= cfg.max_seconds:
        return "max_seconds"
    return None


def _evaluate(model, splits, cfg, tokenizer, run: _RunState, step, start, summary):
    losses = estimate_loss(model, splits, run.block_size, cfg, run.device, getattr(torch, run.dtype))
    elapsed = time.perf_counter() - start
    run.history.append(
        {"step": step, "train_loss": losses["train"], "val_loss": losses["val"], "elapsed": elapsed}
    )
    yield EvalEvent(step, losses["train"], losses["val"], elapsed)
    if cfg.sample_tokens > 0 and tokenizer is not None:
        sample_cfg = SampleConfig(max_new_tokens=cfg.sample_tokens, seed=cfg.seed)
        yield SampleEvent(step, generate_text(model, tokenizer, "", sample_cfg))
        model.train()
    if cfg.checkpoint_path and tokenizer is not None:
        info = {
            "steps": step,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
            "elapsed_seconds": elapsed,
            "device": run.device,
            "dtype": run.dtype,
            "train_config": asdict(cfg),
            "history": run.history,
            **(summary or {}),
        }
        path = save_checkpoint(cfg.checkpoint_path, model, tokenizer, info)
        yield CheckpointEvent(step, str(path))
