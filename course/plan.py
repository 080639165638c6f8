"""Plan a training run before starting it: what to train (one model or the bigram-vs-GPT race),
whether the settings can work on this text and device, how much memory a step needs, how long a
step takes (timed on this device with the real training loop), and the bigram's loss floor.

The Train page and the benchmark script call these; `course.runs` runs what they plan, each run in a
worker process (`course.worker`).
"""

from __future__ import annotations

import functools
import statistics
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import torch

from course.beyond import parameters_of
from course.text import duration
from tinygpt.bigram import BigramConfig
from tinygpt.checkpoint import SUFFIX, load_checkpoint, read_metadata
from tinygpt.corpus import sha256_hex
from tinygpt.data import CharTokenizer, Splits, encode_text, split_data
from tinygpt.device import free_memory, resolve_device, use_threads
from tinygpt.gpt import PRESETS, ConfigError, GPTConfig, config_problems
from tinygpt.models import build_model
from tinygpt.train import RECIPES, StepEvent, TrainConfig, TrainingDiverged, train, train_config_problems

RACE = ("bigram", "gpt")
# The bigram's rate in a race: its row of the recipes (the command line's `--model bigram` trains at it too).
BIGRAM_LR = RECIPES["bigram"]["learning_rate"]
# What the page changes in a preset's recipe (tinygpt.train.RECIPES): how long a run on the page lasts,
# how often it reports and what it samples. "cpu" is the page's race: a minute, where batch 32 beats the
# command line's 16 (docs/training.md), evaluated every 60 steps so that its first evaluation comes
# within seconds (bench/bench_race.py).
_NOT_PAGE = ("block_size", "checkpoint_path")
PAGE_BUDGETS: dict[str, dict] = {
    "cpu": dict(
        batch_size=32, max_seconds=60.0, max_steps=None, eval_interval=60, eval_iters=10, sample_tokens=150
    ),
    "lecture": dict(sample_tokens=300),
    "lecture-exact": dict(sample_tokens=300),
    "small": dict(max_seconds=600.0, max_steps=None, eval_interval=100, eval_iters=20, sample_tokens=200),
    "tiny": dict(sample_tokens=40),
}
TRAIN_DEFAULTS: dict[str, dict] = {  # block_size is the GPT's, checkpoint_path the run's
    name: {k: v for k, v in asdict(TrainConfig.preset(name, **budget)).items() if k not in _NOT_PAGE}
    for name, budget in PAGE_BUDGETS.items()
}
# A modest speed for each kind of device, in FLOP/s (this project's 2-core CPU does about 1.8e11 in
# fp32): settings whose single step would take longer than MAX_STEP_SECONDS are refused before the
# page times a real step, which would build the model and keep the server busy for minutes.
NOMINAL_FLOPS = {"cpu": 1e11, "mps": 1e12, "cuda": 1e13}
MAX_STEP_SECONDS = 30
MEMORY_SHARE = 0.8  # refuse a run whose estimate needs more than this share of the free memory


def preset_defaults(preset: str) -> dict:
    """The GPT preset's shape (n_layer, n_head, n_embd, block_size, dropout) and its training settings."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return {**PRESETS[preset], **TRAIN_DEFAULTS.get(preset, TRAIN_DEFAULTS["cpu"])}


WIDGET_FIELDS = (
    "n_layer",
    "n_head",
    "n_embd",
    "block_size",
    "dropout",
    "batch_size",
    "learning_rate",
    "eval_interval",
    "eval_iters",
)


def widget_defaults(preset: str) -> dict:
    """The page's settings for a preset: its fields, the kind of budget, and both budgets' values."""
    d = preset_defaults(preset)
    return {
        **{k: d[k] for k in WIDGET_FIELDS},
        "budget": "seconds" if d["max_seconds"] else "steps",
        "max_seconds": d["max_seconds"] or 60.0,
        "max_steps": d["max_steps"] or 2000,
    }


@dataclass(frozen=True)
class TrainingData:
    """A text ready to train on: its tokenizer, its train/val split, and a summary (name, size,
    checksum) saved with every checkpoint so a model remembers what it was trained on."""

    tokenizer: CharTokenizer
    splits: Splits
    summary: dict

    @classmethod
    def from_text(cls, text: str, name: str = "text") -> TrainingData:
        tokenizer = CharTokenizer.from_text(text)
        splits = split_data(encode_text(text, tokenizer))
        summary = {"dataset": name, "dataset_chars": len(text), "dataset_sha256": sha256_hex(text.encode())}
        return cls(tokenizer, splits, summary)


@dataclass(frozen=True)
class RunSpec:
    """What one run trains: `models` (one of RACE, or both), the GPT's shape and the shared
    training settings. In a race both models see the same batches: same block size, batch size and seed.

    Every kind of run (this, `ContinuedSpec`, the ladder's `LadderSpec`, `course.experiments`'
    `ExperimentSpec`) answers the same questions, and `course.runs` and `course.worker` ask only these:
    its models and whether they train in turn, each model built (or loaded to resume), its training
    settings and its text, its parameter count, where it saves, and the run's name."""

    models: tuple[str, ...]
    gpt: GPTConfig
    train: TrainConfig
    preset: str = "custom"
    bigram_lr: float = BIGRAM_LR
    in_turn: ClassVar[bool] = False  # the models train side by side, one step each in turn (a race)

    @property
    def block_size(self) -> int:
        return self.gpt.block_size

    def model_config(self, kind: str):
        return self.gpt if kind == "gpt" else BigramConfig(vocab_size=self.gpt.vocab_size)

    def train_config(self, kind: str, checkpoint_path: str | None = None) -> TrainConfig:
        cfg = replace(self.train, block_size=self.block_size, checkpoint_path=checkpoint_path)
        if kind == "bigram":
            cfg = replace(cfg, **RECIPES["bigram"] | {"learning_rate": self.bigram_lr})
        return cfg

    def build(self, kind: str) -> torch.nn.Module:
        torch.manual_seed(self.train.seed)  # the same initial weights for the same settings
        return build_model(kind, self.model_config(kind))

    def resume_path(self, kind: str) -> str | None:
        """The checkpoint whose training `kind` continues (None: it starts afresh)."""
        return None

    def data_for(self, kind: str, data: TrainingData) -> TrainingData:
        """What `kind` trains on: the run's text as the run was given it (an experiment retokenizes it)."""
        return data

    def parameters(self, kind: str) -> int:
        return count_parameters_of(kind, self)

    def path(self, folder: Path, run_name: str, kind: str) -> Path:
        stem = f"{run_name}-{kind}" if len(self.models) > 1 else run_name
        return Path(folder) / f"{stem}{SUFFIX}"

    def run_name(self, run_id: str) -> str:
        """e.g. race-cpu-20250102-153000-1a2b, gpt-lecture-..., bigram-...: unique and sortable."""
        what = "race" if len(self.models) > 1 else self.models[0]
        shape = "" if self.models == ("bigram",) else f"-{self.preset}"
        return f"{what}{shape}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id[:4]}"


@dataclass(frozen=True)
class ContinuedSpec(RunSpec):
    """A saved run trained on from where it stopped, into the same file: `train(..., resume=path)`
    restores its weights, optimizer state, schedule, random state and clock. `train` counts the budget
    from now, so the page's progress bar starts at zero; `train_config` gives train() the same budget
    counted from the run's first step."""

    resume: str = ""
    before: dict = field(default_factory=dict)  # the saved run's summary when it was continued

    def train_config(self, kind: str, checkpoint_path: str | None = None) -> TrainConfig:
        cfg = self.train
        extra = dict(
            max_steps=cfg.max_steps and self.before["steps"] + cfg.max_steps,
            max_seconds=cfg.max_seconds and self.before["elapsed_seconds"] + cfg.max_seconds,
        )
        return replace(cfg, **extra, checkpoint_path=self.resume)

    def build(self, kind: str) -> torch.nn.Module:
        return load_checkpoint(self.resume).model.train()

    def resume_path(self, kind: str) -> str | None:
        return self.resume

    def path(self, folder: Path, run_name: str, kind: str) -> Path:
        return Path(self.resume)

    def run_name(self, run_id: str) -> str:
        return Path(self.resume).stem


def continued_spec(resume, data: TrainingData) -> ContinuedSpec:
    """The spec to train the run saved in `resume` on: its model and settings, and a budget as long
    again as its first one, counted from where it stopped. Raises SpecError when it cannot continue
    on `data`."""
    meta = read_metadata(resume)
    summary, problems = meta["summary"], []
    if not meta.get("resumable"):
        problems.append("it holds no training state (saved by an older version, or not by a training run)")
    if summary.get("dataset_sha256") != data.summary["dataset_sha256"]:
        problems.append(
            f"it was trained on {summary.get('dataset', 'another text')}: choose that text in lesson 1"
        )
    if problems:
        raise SpecError(problems)
    kind, cfg = (
        meta["model_type"],
        TrainConfig(**{k: v for k, v in summary["train_config"].items() if k in _train_names()}),
    )
    gpt = (
        GPTConfig.from_dict(meta["config"])
        if kind == "gpt"
        else GPTConfig(vocab_size=meta["vocab_size"], block_size=cfg.block_size or 8)
    )
    preset = summary.get("preset", "custom")
    cfg = replace(cfg, checkpoint_path=None)
    return ContinuedSpec((kind,), gpt, cfg, preset, resume=str(resume), before=summary)


def _train_names() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


class SpecError(ConfigError):
    """Settings that cannot make a run, as the page checks them before it starts one."""


def make_spec(models, vocab_size: int, preset: str = "cpu", **values) -> RunSpec:
    """A RunSpec from plain values (the page's widgets): GPT fields go to GPTConfig, the rest to
    TrainConfig, on top of `preset_defaults(preset)`. Raises SpecError listing every problem."""
    models = tuple(m for m in RACE if m in models)
    if "gpt" not in models:  # the GPT's shape does not matter then, and must not block the run
        values = {
            k: v for k, v in values.items() if k not in ("n_layer", "n_head", "n_embd", "dropout", "bias")
        }
    values = {**preset_defaults(preset), **values, "vocab_size": vocab_size}
    gpt_names = {f.name for f in fields(GPTConfig)}
    train_names = {f.name for f in fields(TrainConfig)} - {"block_size", "checkpoint_path"}
    gpt_values = {k: v for k, v in values.items() if k in gpt_names}
    train_values = {k: v for k, v in values.items() if k in train_names}
    problems = [] if models else ["choose what to train: the bigram, the GPT, or both"]
    problems += _explain(config_problems(SimpleNamespace(**{**_gpt_defaults(), **gpt_values})), gpt_values)
    problems += train_config_problems(SimpleNamespace(**{**_train_defaults(), **train_values}))
    if problems:
        raise SpecError(problems)
    return RunSpec(models, GPTConfig(**gpt_values), TrainConfig(**train_values), preset)


def _gpt_defaults() -> dict:
    return {f.name: f.default for f in fields(GPTConfig)}


def _train_defaults() -> dict:
    return {f.name: f.default for f in fields(TrainConfig)}


def _explain(problems: list[str], gpt_values: dict) -> list[str]:
    """Add a way out to the divisibility problem: the nearest embedding sizes that would work."""
    n_embd, n_head = gpt_values.get("n_embd", 0), gpt_values.get("n_head", 0)
    out = []
    for p in problems:
        if "divisible" in p and n_head > 0:
            low, high = n_embd - n_embd % n_head, n_embd - n_embd % n_head + n_head
            options = " or ".join(str(v) for v in (low, high) if v > 0)
            p += f": every head gets an equal slice of the embedding, so try n_embd {options}"
        out.append(p)
    return out


def check_spec(spec: RunSpec, data: TrainingData, device: str = "auto") -> list[str]:
    """Problems that depend on the text and the device: block size vs text length, memory."""
    problems = []
    n_train, n_val = len(data.splits.train), len(data.splits.val)
    if spec.block_size >= n_train:
        problems.append(
            f"block_size ({spec.block_size}) is longer than the training text ({n_train:,} characters "
            f"after the 90/10 split): choose a block size below {n_train:,} or a longer text"
        )
    if n_val < 2:
        problems.append("the text is too short to keep a validation part: use a longer text")
    if data.tokenizer.vocab_size != spec.gpt.vocab_size:
        problems.append(
            f"the vocabulary has {data.tokenizer.vocab_size} characters, the model expects {spec.gpt.vocab_size}"
        )
    device = resolve_device(device)
    need, free = estimate_memory(spec), free_memory(device)
    if free is not None and need > MEMORY_SHARE * free:
        problems.append(
            f"one training step needs about {_gb(need)} (weights, gradients, AdamW state and activations for "
            f"batch {spec.train.batch_size} x block {spec.block_size}) but {device} has {_gb(free)} free: "
            "lower the batch size, block size, layers or embedding size"
        )
    seconds = step_flops(spec) / NOMINAL_FLOPS[device.split(":")[0]]
    if seconds > MAX_STEP_SECONDS:
        problems.append(
            f"one training step would take about {duration(seconds)} on {device} ({step_flops(spec):.1e} "
            "floating-point operations): lower the batch size, block size, layers or embedding size"
        )
    return problems


def step_flops(spec: RunSpec) -> float:
    """About 6 x parameters x tokens for one step of every model of the run (forward and backward)."""
    tokens = spec.train.batch_size * spec.block_size
    return sum(6 * count_parameters_of(kind, spec) * tokens for kind in spec.models)


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def estimate_memory(spec: RunSpec) -> int:
    """Bytes one training step needs, an upper estimate: 16 per parameter (fp32 weights, gradients,
    two AdamW moments) plus fp32 activations kept for backward. Per block: about 20 vectors of
    n_embd per token (norms, q/k/v, MLP at 4x) and the (T, T) attention map of each head twice
    (softmax output and its dropout), as in the explicit attention; plus logits at the end."""
    B, T, cfg = spec.train.batch_size, spec.block_size, spec.gpt
    total = 0
    for kind in spec.models:
        n_params = count_parameters_of(kind, spec)
        acts = 3 * B * T * cfg.vocab_size  # logits, their fp32 copy and their gradient
        if kind == "gpt":
            acts += cfg.n_layer * B * T * (20 * cfg.n_embd + 2 * cfg.n_head * T) + 2 * B * T * cfg.n_embd
        total += 16 * n_params + 4 * acts
    return total


def count_parameters_of(kind: str, spec: RunSpec) -> int:
    """Parameter count, from the model built on the meta device (so absurd sizes cost no memory)."""
    return parameters_of(kind, spec.model_config(kind))


def parameter_table(model) -> list[dict]:
    """Parameters grouped by component (embeddings, each kind of layer, head), for display."""
    groups: dict[str, int] = {}
    for name, p in model.named_parameters():
        groups[_component(name)] = groups.get(_component(name), 0) + p.numel()
    total = sum(groups.values())
    return [{"component": k, "parameters": v, "share": v / total} for k, v in groups.items()]


_COMPONENTS = {  # a substring of the parameter's name -> its component, the first match wins
    "wte": "token embedding",
    "token_embedding": "token embedding",
    "wpe": "position embedding",
    ".attn.": "attention (all blocks)",
    ".mlp.": "MLP (all blocks)",
    "ln_": "layer norms",
    "lm_head": "LM head",
}


def _component(name: str) -> str:
    return next((label for part, label in _COMPONENTS.items() if part in name), "other")


@dataclass(frozen=True)
class StepTime:
    """Seconds per training step of the whole run (both models in a race), and how it was found."""

    seconds: float
    tokens_per_sec: float
    timed_batch: int  # the batch size actually timed (scaled linearly to the real one); 0: estimated
    batch_size: int

    @property
    def estimated(self) -> bool:
        """Not timed: too large to time within the page's budget, so estimated from its FLOPs."""
        return self.timed_batch == 0


TIMING_STEPS = 4  # the first pays for lazy imports and allocations; the median of the rest counts
MAX_TIMED_PARAMS = 5_000_000  # building and initialising a larger model alone takes a good part of a second


def time_per_step(spec: RunSpec, data: TrainingData, device: str = "auto", budget: float = 0.6) -> StepTime:
    """Time real training steps (forward, backward, optimizer: `tinygpt.train.train` itself) of each
    model on `device`, within about `budget` seconds: when the full batch would take longer, time a
    smaller one and scale up linearly (an overestimate: bigger batches use the hardware better); when
    even one row would, estimate from the step's FLOPs at the rate this device trains a small model
    (`training_rate`), so that no setting keeps the page busy for long. The steps run in the page's own
    thread, not in a run's worker: the page shows the answer in the same rerun, on the threads a run
    will use (`use_threads`)."""
    use_threads()  # the same threads a run will use
    device = resolve_device(device)
    B, T = spec.train.batch_size, spec.block_size
    total, smallest = 0.0, B
    for kind in spec.models:
        row_seconds = 6 * count_parameters_of(kind, spec) * T / training_rate(device)  # one row, predicted
        rows = int(budget / len(spec.models) / (TIMING_STEPS * row_seconds))  # rows timeable in the budget
        if rows < 1 or count_parameters_of(kind, spec) > MAX_TIMED_PARAMS:
            seconds, batch = row_seconds * B, 0
        else:
            batch = min(B, rows)
            seconds = _timed_steps(kind, spec, data, device, batch, TIMING_STEPS) * B / batch
        total, smallest = total + seconds, min(smallest, batch)
    return StepTime(total, B * T / total, smallest, B)


@functools.cache
def training_rate(device: str) -> float:
    """FLOP/s (6 x parameters x tokens per second) at which `device` trains the `cpu` preset's model
    at batch 8 with its recipe: timed once per process (about 0.2 s on a 2-core CPU)."""
    spec = make_spec(("gpt",), 65, "cpu", batch_size=8)
    tokens = torch.randint(0, 65, (20_000,), generator=torch.Generator().manual_seed(0))
    data = SimpleNamespace(splits=Splits(tokens[:18_000], tokens[18_000:]))
    seconds = _timed_steps("gpt", spec, data, device, 8, TIMING_STEPS)
    return 6 * count_parameters_of("gpt", spec) * 8 * spec.block_size / seconds


def _timed_steps(
    kind: str, spec: RunSpec, data: TrainingData, device: str, batch: int, steps: int = 5
) -> float:
    """Median seconds of the steps after the first (which pays for lazy imports and allocations)."""
    model = build_model(kind, spec.model_config(kind))
    cfg = replace(
        spec.train_config(kind),
        batch_size=batch,
        max_steps=steps,
        max_seconds=None,
        eval_interval=10**9,
        eval_iters=1,
        sample_tokens=0,
        device=device,
    )
    times = []
    try:
        for e in train(model, data.splits, cfg):
            if isinstance(e, StepEvent):
                times.append(batch * spec.block_size / e.tokens_per_sec)
    except TrainingDiverged:
        pass  # the steps it took still took their time; the run itself will say that it diverges
    return statistics.median(times[1:] or times)


def bigram_floor(data: TrainingData) -> float:
    """The validation loss of the best bigram, found by counting instead of training: next-character
    frequencies after each character in the training text (plus one, as in makemore), scored on val."""
    V = data.tokenizer.vocab_size
    train_ids, val_ids = data.splits.train, data.splits.val
    counts = torch.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).view(V, V).double() + 1
    logp = (counts / counts.sum(1, keepdim=True)).log()  # (V, V): log P(next | current)
    return float(-logp[val_ids[:-1], val_ids[1:]].mean())
