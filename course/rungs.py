"""The lecture's ladder, the course's experiment: from the bigram to a Transformer one piece at a time.

Every rung is a config of this library's own models (`BigramLM`, or `GPT` with some of its
switches off), trained by `train()` at the lecture's small settings: batch 32, block 8, n_embd 32,
AdamW at 1e-3 with torch's defaults, 5,000 steps, every rung on the same batches. `climb()` trains
rungs, one process each when asked, and yields their results in rung order.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from tinygpt.data import CharTokenizer, Splits
from tinygpt.device import available_cores
from tinygpt.files import atomic_path
from tinygpt.models import build_model, config_for, count_parameters
from tinygpt.train import DoneEvent, EvalEvent, SampleEvent, TrainConfig, train

ATTENTION_ONLY = dict(proj=False, mlp=False, residual=False, layer_norm=False)
BLOCKS = dict(n_layer=3, n_head=4, activation="relu")  # the lecture's FeedForward uses ReLU


@dataclass(frozen=True)
class Rung:
    """One model of the ladder: `changes` are GPTConfig fields over the ladder's shape."""

    key: str  # short and file-name safe: "heads", "no-pos", ...
    title: str
    changes: dict = field(default_factory=dict)
    model_type: str = "gpt"
    lecture_val: float | None = None  # the lecture's validation loss, where it reports one


CLIMB = (
    Rung("bigram", "bigram: a token's embedding is its logits", model_type="bigram", lecture_val=2.49),
    Rung("head", "one self-attention head", dict(n_layer=1, n_head=1, **ATTENTION_ONLY), lecture_val=2.40),
    Rung(
        "heads",
        "multi-head attention, 4 heads of 8",
        dict(n_layer=1, n_head=4, **ATTENTION_ONLY),
        lecture_val=2.28,
    ),
    Rung(
        "ffwd",
        "a feed-forward layer after attention",
        dict(ATTENTION_ONLY, n_layer=1, n_head=4, mlp=True, mlp_ratio=1, activation="relu"),
        lecture_val=2.24,
    ),
    Rung(
        "blocks",
        "3 blocks, residuals, projections, 4x feed-forward",
        dict(BLOCKS, layer_norm=False),
        lecture_val=2.08,
    ),
    Rung("layernorm", "pre-norm LayerNorm", dict(BLOCKS), lecture_val=2.06),
)
# Going back down: the full model at the lecture's depth (6 blocks), then that model less one piece.
DEEP = dict(BLOCKS, n_layer=6)
DESCENT = (
    Rung("deep", "the full model, 6 blocks deep", dict(DEEP)),
    Rung("no-pos", "no position embeddings", dict(DEEP, pos_emb=False)),
    Rung("no-scale", "no 1/sqrt(head_size) scale", dict(DEEP, attn_scale=False)),
    Rung("no-residual", "no residual connections", dict(DEEP, residual=False)),
    Rung("no-layernorm", "no LayerNorm", dict(DEEP, layer_norm=False)),
)
RUNGS = {r.key: r for r in CLIMB + DESCENT}


_LADDER = TrainConfig.preset("ladder")  # the lecture's loop for the small models (tinygpt.train.RECIPES)


@dataclass(frozen=True)
class LadderSettings:
    """What a climb may change of the recipes "ladder" and "ladder-bigram" (tinygpt.train.RECIPES; the
    defaults come from there), and the models' width. Evaluations cost time: by default only at the
    end of each rung."""

    max_steps: int = _LADDER.max_steps
    batch_size: int = _LADDER.batch_size
    block_size: int = _LADDER.block_size
    n_embd: int = 32
    learning_rate: float = _LADDER.learning_rate
    bigram_lr: float = TrainConfig.preset("ladder-bigram").learning_rate
    eval_interval: int | None = None  # None: evaluate once, after the last step
    eval_iters: int = _LADDER.eval_iters
    sample_tokens: int = 0  # > 0: a sample of this length from each trained rung
    seed: int = _LADDER.seed

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "block_size", "n_embd", "eval_iters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.eval_interval is not None and self.eval_interval < 1:
            raise ValueError(f"eval_interval must be at least 1 (got {self.eval_interval})")


def rung_config(rung: Rung, vocab_size: int, settings: LadderSettings = LadderSettings()):
    """The rung's model config: the ladder's shape (block 8, n_embd 32, no dropout) plus its changes."""
    if rung.model_type == "bigram":
        return config_for("bigram", {"vocab_size": vocab_size})
    # PyTorch's default init, as in the video: from N(0, 0.02) the rungs without LayerNorm learn slower
    shape = dict(block_size=settings.block_size, n_embd=settings.n_embd, dropout=0.0, init="pytorch")
    return config_for("gpt", {"vocab_size": vocab_size, **shape, **rung.changes})


def build_rung(rung: Rung, vocab_size: int, settings: LadderSettings = LadderSettings()) -> torch.nn.Module:
    """The rung's model, initialised from `settings.seed` (so a rung starts the same every time)."""
    torch.manual_seed(settings.seed)
    return build_model(rung.model_type, rung_config(rung, vocab_size, settings))


def rung_params(rung: Rung, vocab_size: int, settings: LadderSettings = LadderSettings()) -> int:
    with torch.device("meta"):  # counted without allocating or initialising weights
        return count_parameters(build_model(rung.model_type, rung_config(rung, vocab_size, settings)))


def rung_train_config(rung: Rung, settings: LadderSettings = LadderSettings()) -> TrainConfig:
    """The recipe "ladder" ("ladder-bigram" for the bigram) with the climb's settings."""
    lr = settings.bigram_lr if rung.model_type == "bigram" else settings.learning_rate
    return TrainConfig.preset(
        "ladder-bigram" if rung.model_type == "bigram" else "ladder",
        batch_size=settings.batch_size,
        block_size=settings.block_size,
        max_steps=settings.max_steps,
        learning_rate=lr,
        min_lr=lr,
        eval_interval=settings.eval_interval or settings.max_steps,
        eval_iters=settings.eval_iters,
        sample_tokens=settings.sample_tokens,
        seed=settings.seed,
    )


@dataclass(frozen=True)
class RungResult:
    rung: str  # the rung's key
    title: str
    params: int
    steps: int
    seconds: float  # training and evaluation
    train_loss: float
    val_loss: float
    lecture_val: float | None
    seed: int
    history: list[dict]  # step, train_loss, val_loss at each evaluation
    sample: str = ""

    @property
    def steps_per_sec(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "steps_per_sec": round(self.steps_per_sec, 1)}


def train_rung(
    rung: Rung,
    splits: Splits,
    tokenizer: CharTokenizer,
    settings: LadderSettings = LadderSettings(),
    should_stop: Callable[[], bool] | None = None,
) -> RungResult:
    """Train one rung from scratch on the ladder's batches; its final losses, history and sample."""
    model = build_rung(rung, tokenizer.vocab_size, settings)
    history, sample, done = [], "", None
    start = time.perf_counter()
    for event in train(model, splits, rung_train_config(rung, settings), tokenizer, should_stop):
        if isinstance(event, EvalEvent):
            history.append({"step": event.step, "train_loss": event.train_loss, "val_loss": event.val_loss})
        elif isinstance(event, SampleEvent):
            sample = event.text
        elif isinstance(event, DoneEvent):
            done = event
    return RungResult(
        rung=rung.key,
        title=rung.title,
        params=count_parameters(model),
        steps=done.step,
        seconds=time.perf_counter() - start,
        train_loss=history[-1]["train_loss"],
        val_loss=history[-1]["val_loss"],
        lecture_val=rung.lecture_val,
        seed=settings.seed,
        history=history,
        sample=sample,
    )


def climb(
    rungs: Iterable[Rung],
    splits: Splits,
    tokenizer: CharTokenizer,
    settings: LadderSettings = LadderSettings(),
    workers: int = 1,
    seeds: Sequence[int] | None = None,
) -> Iterator[RungResult]:
    """Train each rung (for each of `seeds`, default `settings.seed`), yielding results in that
    order. With workers > 1 the rungs train in that many processes of one thread each, the biggest
    first: these models are too small for threads inside one step to help, while processes run
    side by side. This is the command line's way (`tinygpt ladder`): it waits for every result and
    has no server whose pages must stay responsive, so it uses a plain process pool, not the
    background runs of `course.runs` that the pages use."""
    trainings = [(rung, replace(settings, seed=seed)) for seed in seeds or [settings.seed] for rung in rungs]
    if workers <= 1 or len(trainings) <= 1:
        for rung, rung_settings in trainings:
            yield train_rung(rung, splits, tokenizer, rung_settings)
        return
    order = sorted(
        range(len(trainings)), key=lambda i: -rung_params(trainings[i][0], tokenizer.vocab_size, settings)
    )
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
    pool = context.Pool(min(workers, len(trainings)), initializer=_start_worker)
    try:
        pending = {
            i: pool.apply_async(train_rung, (trainings[i][0], splits, tokenizer, trainings[i][1]))
            for i in order
        }
        for i in range(len(trainings)):
            yield pending[i].get()
        pool.close()
    finally:
        pool.terminate()  # idle workers after close(); after an error or Ctrl-C, stop the rest now
        pool.join()


def _start_worker() -> None:
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which ends the workers


def default_workers(n_trainings: int) -> int:
    """One process per idle core (the cores less the last minute's load average), at least one and
    at most one per rung to train. Extra processes pay only where cores would otherwise sit idle: on a busy
    machine they slow every rung down more than they share out (docs/ladder.md)."""
    idle = available_cores() - os.getloadavg()[0]
    return max(1, min(n_trainings, round(idle)))


def select_rungs(names: Iterable[str]) -> list[Rung]:
    """Rungs by key, or the groups "climb", "descent" and "all"; raises ValueError on unknown names."""
    groups = {"climb": CLIMB, "descent": DESCENT, "all": CLIMB + DESCENT}
    chosen: list[Rung] = []
    for name in names:
        if name not in groups and name not in RUNGS:
            raise ValueError(f"unknown rung {name!r}; choose from {', '.join([*groups, *RUNGS])}")
        for rung in groups.get(name, (RUNGS.get(name),)):
            if rung not in chosen:
                chosen.append(rung)
    return chosen


RESULTS_FORMAT = 1


def write_results(path, results: Iterable[RungResult], settings: LadderSettings, info: dict) -> Path:
    """Save a ladder's results as JSON (atomically): the settings, `info` (e.g. the command that
    made it) and one entry per rung and seed, losses rounded to 4 decimals."""
    rows = [_rounded(r.to_dict()) for r in results]
    doc = {"format": RESULTS_FORMAT, **info, "settings": asdict(settings), "results": rows}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return Path(path)


def read_results(path) -> dict:
    """A file written by `write_results`; ValueError (one sentence) when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read ladder results {Path(path).name}: {e}") from e
    if (
        not isinstance(doc, dict)
        or doc.get("format") != RESULTS_FORMAT
        or not isinstance(doc.get("results"), list)
    ):
        raise ValueError(f"{Path(path).name} is not a ladder results file (format {RESULTS_FORMAT})")
    return doc


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
