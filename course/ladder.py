"""The course side of lesson 3, "Build the Transformer": what each rung of the lecture's ladder adds
(in a sentence and in the library's own code), the shipped staircase (checkpoints/ladder.json, made
by `python -m tinygpt ladder`), rung 7 read from the shipped Transformer, and a climb that trains in
the background through `course.runs`. Streamlit-free; the figures are in course/figures/ladder.py.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from course.rungs import (
    CLIMB,
    DESCENT,
    RUNGS,
    LadderSettings,
    build_rung,
    read_results,
    rung_config,
    rung_params,
    rung_train_config,
)
from course.runs import RunView
from course.saved_runs import SHIPPED_DIR
from tinygpt.bigram import BigramLM
from tinygpt.checkpoint import SUFFIX, read_metadata
from tinygpt.gpt import GPT, MLP, Block, CausalSelfAttention, GPTConfig, explicit_attention
from tinygpt.models import build_model, config_for, count_parameters

RESULTS = SHIPPED_DIR / "ladder.json"
TOP_MODEL = SHIPPED_DIR / "shakespeare-gpt.safetensors"
LECTURE_TOP_VAL, LECTURE_TOP_PARAMS = 1.48, 10_788_929  # the lecture's final gpt.py, on a GPU
VOCAB_SIZE = 65  # Tiny Shakespeare's characters: the shipped results' vocabulary
# The lecture's own counts at each rung: its layers carry biases (all but key, query and value), which
# nanoGPT and this library leave out. Counted from the lecture's modules in tests/test_ladder.py.
LECTURE_PARAMS = {
    "bigram": 4225,
    "head": 7553,
    "heads": 7553,
    "ffwd": 8609,
    "blocks": 41921,
    "layernorm": 42369,
}
REBUILD = (  # the command that made RESULTS (the file records it too)
    "python -m tinygpt ladder --rungs all --seed 1337 1338 1339 --eval-interval 500 --sample-tokens 200 "
    "--out checkpoints/ladder.json"
)
# Steps per rung a learner can choose; multiples of 500, where the shipped file has evaluations.
LIVE_STEPS = (500, 1000, 2000, 5000)


@dataclass(frozen=True)
class Note:
    """What the page says about a rung: one sentence, and the library code that does it."""

    text: str
    sources: tuple = ()


NOTES = {
    "bigram": Note(
        "Each character looks up its row of a 65×65 table, and that row *is* the logits for the next "
        "character. Nothing before it counts.",
        (BigramLM.forward,),
    ),
    "head": Note(
        "Characters become vectors of 32 numbers, plus a learned vector per position; one self-attention "
        "head lets each position read the ones before it, and a linear LM head turns the result into logits.",
        (GPT.embed, explicit_attention),
    ),
    "heads": Note(
        "The one head of size 32 becomes four heads of size 8: four different questions asked of the "
        "past at once, for the same number of weights.",
        (CausalSelfAttention.forward,),
    ),
    "ffwd": Note(
        "Attention gathers information from the past; now a feed-forward layer (Linear + ReLU), applied "
        "to each position on its own, gets to think about what was gathered.",
        (MLP,),
    ),
    "blocks": Note(
        "Attention then feed-forward becomes a block, stacked three deep. Residual connections "
        "(x + f(x)) keep the deeper stack trainable: the gradient has a straight path back through the "
        "additions. Output projections map each sublayer's result back into that path; the feed-forward "
        "grows 4× wide.",
        (Block.forward, GPT.forward),
    ),
    "layernorm": Note(
        "LayerNorm before attention, before the feed-forward and before the LM head keeps every vector "
        "at a steady scale (pre-norm, as in GPT-2).",
        (Block.__init__,),
    ),
    "top": Note(
        "Then the lecture scales rung 6 up: 6 blocks of 6 heads, 384 wide, a context of 256 characters and "
        "dropout 0.2, 10.8M parameters trained for 5,000 steps on a GPU. The shipped model is this project's "
        "CPU version of it: 4 blocks of 4 heads, 256 wide, context 128, dropout 0.1, 3.2M parameters, trained "
        "with nanoGPT's recipe (AdamW at 2e-3, warmup and cosine decay, bf16) for 78 minutes on one CPU "
        "thread. It reaches a val loss of 1.50 where the lecture's model reaches 1.48 (docs/pretrained.md).",
        (GPTConfig,),
    ),
    "deep": Note("Rung 6 at the lecture's depth: six blocks instead of three.", (GPT.__init__,)),
    "no-pos": Note(
        "Without position embeddings a character knows *what* came before it but not *where*: to "
        "attention the past is a bag of characters (the causal mask still tells it how many). Here that "
        "costs a few hundredths.",
        (GPT.embed,),
    ),
    "no-scale": Note(
        "Without the 1/√head_size scale, attention scores grow with the head size and softmax starts out "
        "peaky (lesson 2). At head size 8 they are only √8 ≈ 2.8× too big, and the model learns around "
        "it: no measurable difference here. The lecture's scaled-up heads are 64 wide, 8× too big.",
        (CausalSelfAttention.__init__,),
    ),
    "no-residual": Note(
        "Without residual connections every block must carry everything forward through its own layers, "
        "and six blocks deep the gradient has no straight path back to the embeddings. This model never "
        "gets past guessing characters by their frequency alone (a unigram model scores 3.35).",
        (Block.forward,),
    ),
    "no-layernorm": Note(
        "Without LayerNorm nothing rescales the vectors between blocks. At this size that makes little "
        "difference, as the step from rung 5 to rung 6 showed: the residual connections are what keep "
        "six blocks trainable.",
        (Block.__init__,),
    ),
}


@dataclass(frozen=True)
class RungStats:
    """One rung of the shipped ladder: its losses over the seeds, its size and a sample."""

    key: str
    title: str
    params: int
    val: list[float]  # the final val loss of each seed
    train: list[float]
    lecture_val: float | None
    sample: str
    history: list[list[dict]]  # each seed's evaluations: step, train_loss, val_loss

    @property
    def val_mean(self) -> float:
        return statistics.fmean(self.val)

    @property
    def train_mean(self) -> float:
        return statistics.fmean(self.train)

    def val_at(self, step: int) -> float | None:
        """The mean val loss over the seeds at `step` (None when it was not evaluated there)."""
        found = [e["val_loss"] for h in self.history for e in h if e["step"] == step]
        return statistics.fmean(found) if len(found) == len(self.history) else None


@dataclass(frozen=True)
class Staircase:
    """The shipped results file, by rung key, with the command that made it."""

    rungs: dict[str, RungStats]
    command: str
    seeds: list[int]
    settings: dict

    def climb(self) -> list[RungStats]:
        return [self.rungs[r.key] for r in CLIMB if r.key in self.rungs]


def load_staircase(path=None) -> Staircase:
    """The ladder's results file (default: the shipped one), grouped by rung; ValueError (one
    sentence) if it cannot be read."""
    path = Path(path or RESULTS)
    doc = read_results(path)
    grouped: dict[str, list[dict]] = {}
    try:
        for row in doc["results"]:
            grouped.setdefault(row["rung"], []).append(row)
        rungs = {key: _stats(key, rows) for key, rows in grouped.items()}
        seeds = sorted({r["seed"] for r in doc["results"]})
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path.name} has a result without {e}") from e
    return Staircase(rungs, doc.get("command", ""), seeds, doc.get("settings", {}))


def _stats(key: str, rows: list[dict]) -> RungStats:
    first = rows[0]
    return RungStats(
        key=key,
        title=first["title"],
        params=first["params"],
        val=[r["val_loss"] for r in rows],
        train=[r["train_loss"] for r in rows],
        lecture_val=first.get("lecture_val"),
        sample=first.get("sample", ""),
        history=[r.get("history", []) for r in rows],
    )


@dataclass(frozen=True)
class TopRung:
    """Rung 7, the scaled-up Transformer, as the shipped checkpoint records it."""

    config: object
    params: int
    val_loss: float | None
    train_loss: float | None
    steps: int | None


def top_rung(path=None) -> TopRung:
    """Rung 7 from the shipped checkpoint's metadata (no weights loaded); CheckpointError if unreadable."""
    meta = read_metadata(path or TOP_MODEL)
    config = config_for(meta["model_type"], {**meta["config"], "vocab_size": meta["vocab_size"]})
    with torch.device("meta"):
        params = count_parameters(build_model(meta["model_type"], config))
    s = meta["summary"]
    return TopRung(config, params, s.get("val_loss"), s.get("train_loss"), s.get("steps"))


# ---- climbing live --------------------------------------------------------------------------------


def live_settings(steps: int) -> LadderSettings:
    """The ladder's settings for a live climb of `steps` per rung: five evaluations (over the
    lecture's 200 batches, so the losses compare with the shipped ones) and a sample at each."""
    return LadderSettings(max_steps=steps, eval_interval=max(1, steps // 5), sample_tokens=200)


@dataclass(frozen=True)
class LadderSpec:
    """What a ladder run trains: rungs by key, one after another, at `settings`. It answers what
    `course.runs` and `course.worker` ask of every spec (see `course.plan.RunSpec`)."""

    rungs: tuple[str, ...]
    settings: LadderSettings
    vocab_size: int
    preset: str = "ladder"
    in_turn: ClassVar[bool] = True  # one rung after another, each to its end

    def __post_init__(self):
        unknown = [k for k in self.rungs if k not in RUNGS]
        if unknown or not self.rungs:
            raise ValueError(f"choose rungs from {', '.join(RUNGS)} (got {', '.join(unknown) or 'none'})")

    @property
    def models(self) -> tuple[str, ...]:
        return self.rungs

    @property
    def train(self):
        return rung_train_config(RUNGS[self.rungs[-1]], self.settings)

    @property
    def block_size(self) -> int:
        return self.settings.block_size

    def model_config(self, kind: str):
        return rung_config(RUNGS[kind], self.vocab_size, self.settings)

    def train_config(self, kind: str, checkpoint_path: str | None = None):
        """No checkpoint: the page shows each rung's losses and sample; the models are not kept."""
        return rung_train_config(RUNGS[kind], self.settings)

    def build(self, kind: str) -> torch.nn.Module:
        return build_rung(RUNGS[kind], self.vocab_size, self.settings)

    def resume_path(self, kind: str) -> None:
        return None

    def data_for(self, kind: str, data):
        return data

    def parameters(self, kind: str) -> int:
        return rung_params(RUNGS[kind], self.vocab_size, self.settings)

    def path(self, folder: Path, run_name: str, kind: str) -> Path:
        return Path(folder) / f"{run_name}-{kind}{SUFFIX}"  # named, never written

    def run_name(self, run_id: str) -> str:
        what = "climb" if len(self.rungs) > 1 else self.rungs[0]
        return f"ladder-{what}-{self.settings.max_steps}-{time.strftime('%H%M%S')}"


def is_ladder_run(run) -> bool:
    """Whether `run` (a course.runs.Run) trains the ladder."""
    return isinstance(run.spec, LadderSpec)


@dataclass(frozen=True)
class LivePoint:
    """A rung of a live run as it stands: its latest evaluation and whether it is done."""

    key: str
    params: int
    step: int
    val: float | None
    train: float | None
    sample: str
    done: bool


def live_points(view: RunView) -> list[LivePoint]:
    """Each rung of a ladder run, in order, from its record."""
    points = []
    for key, trace in view.models.items():
        last = trace.evals[-1] if trace.evals else {}
        step = len(trace.steps)
        done = (
            bool(last) and (last["step"] == step) and (step >= view.spec.train.max_steps or not view.active)
        )
        points.append(
            LivePoint(
                key,
                trace.n_params,
                step,
                last.get("val_loss"),
                last.get("train_loss"),
                trace.samples[-1][1] if trace.samples else "",
                done,
            )
        )
    return points


def rung_number(key: str) -> int | None:
    """1-6 for the climb's rungs, None for the descent's."""
    return next((i for i, r in enumerate(CLIMB, start=1) if r.key == key), None)


DESCENT_KEYS = tuple(r.key for r in DESCENT[1:])  # the removals; DESCENT[0] is the full model
