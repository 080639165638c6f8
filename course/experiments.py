"""The extensions that from-scratch GPT projects list as "what to try next", as switches trained
against a baseline and compared fairly.

A switch changes one thing: the tokenizer (byte-pair or word tokens instead of characters), tied
input and output embeddings, RMSNorm, post-norm (with and without warmup), dropout, or a longer
context. Its run trains the baseline and the switched model side by side, one step each in turn,
through the same background runs as lesson 4's race (`course.runs`). Two rules make it fair:

- **The same characters.** Both models take the same number of steps and read the same number of
  training characters per step: a model whose tokens hold more characters (BPE, words) or whose
  context is longer gets fewer rows per batch.
- **The same yardstick.** A loss per token means different things for different tokenizers, so every
  model is scored in bits per character on the same validation text: the last 10% of the characters.
  A word model's unknown token hides the characters of rare words; they are charged what spelling
  them out costs (`spelling_bpc`), so its score is the length of a code that rebuilds the text.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import torch

from course.beyond import parameters_of
from course.plan import PAGE_BUDGETS, TrainingData
from tinygpt.checkpoint import SUFFIX
from tinygpt.data import encode_splits, split_text
from tinygpt.gpt import PRESETS, GPTConfig
from tinygpt.models import build_model
from tinygpt.tokenizers import tokenizer_for, tokenizer_from_json
from tinygpt.train import TrainConfig

BASELINE = "baseline"
PRESET = "cpu"  # the baseline: lesson 4's Transformer and its recipe


@dataclass(frozen=True)
class Switch:
    """One change to the baseline: what it is called, what it changes, and why one would try it."""

    label: str
    why: str
    gpt: dict = field(default_factory=dict)  # GPTConfig fields
    train: dict = field(default_factory=dict)  # TrainConfig fields
    tokenizer: str = "char"
    vocab_size: int | None = None


SWITCHES: dict[str, Switch] = {
    "bpe": Switch(
        "Byte-pair tokens (vocabulary 512)",
        "Each token holds about two characters, so the same context sees twice as far back, but the model "
        "must learn 512 embeddings instead of 65.",
        tokenizer="bpe",
        vocab_size=512,
    ),
    "word": Switch(
        "Word tokens (vocabulary 2,000)",
        "Each token is a whole word: the context sees far back, but rare words become one unknown token, "
        "and the model has few examples of each word.",
        tokenizer="word",
        vocab_size=2000,
    ),
    "tie_weights": Switch(
        "Tied embeddings",
        "The LM head reuses the token embedding matrix (GPT-2 does): fewer parameters, and what the model "
        "learns about a token as input helps it predict that token as output.",
        gpt=dict(tie_weights=True),
    ),
    "rmsnorm": Switch(
        "RMSNorm instead of LayerNorm",
        "RMSNorm only rescales each vector (no mean subtracted, no bias): cheaper, used by LLaMA.",
        gpt=dict(norm="rmsnorm"),
    ),
    "post_norm": Switch(
        "Post-norm (2017 paper)",
        "The original Transformer normalizes after each residual add instead of before each sublayer, so "
        "the residual stream itself is normalized at every step.",
        gpt=dict(norm_position="post"),
    ),
    "post_norm_no_warmup": Switch(
        "Post-norm without warmup",
        "Post-norm is known to need a warmup of the learning rate: this run starts at the full rate.",
        gpt=dict(norm_position="post"),
        train=dict(warmup_steps=0),
    ),
    "pre_norm_no_warmup": Switch(
        "Pre-norm without warmup",
        "The control for the row above: the baseline's pre-norm, also at the full rate from the first step.",
        train=dict(warmup_steps=0),
    ),
    "dropout": Switch(
        "Dropout 0.2",
        "Dropout zeroes a random fifth of the activations while training, against memorizing. The "
        "baseline has none, since a short run does not see a character twice often enough to memorize.",
        gpt=dict(dropout=0.2),
    ),
    "context": Switch(
        "Context of 128 characters (baseline 64)",
        "Twice the context to attend to: more to learn from, at twice the cost of each attention map.",
        gpt=dict(block_size=128),
    ),
}


def baseline_config(vocab_size: int) -> GPTConfig:
    return GPTConfig.preset(PRESET, vocab_size=vocab_size)


def baseline_train(max_steps: int) -> TrainConfig:
    """The baseline's recipe for `max_steps` steps, evaluated and sampled as the page's race is
    (course.plan.PAGE_BUDGETS), and at least six times, so that a short run still draws a curve."""
    keep = ("eval_interval", "eval_iters", "sample_tokens")
    page = {k: v for k, v in PAGE_BUDGETS[PRESET].items() if k in keep}
    page["eval_interval"] = max(1, min(page["eval_interval"], -(-max_steps // 6)))
    return TrainConfig.preset(PRESET, **page, max_steps=max_steps, max_seconds=None)


def steps_for(chars: int) -> int:
    """The steps in which the baseline reads about `chars` training characters."""
    return max(1, round(chars / chars_per_step(TrainConfig.preset(PRESET), PRESETS[PRESET]["block_size"])))


def chars_per_step(cfg: TrainConfig, block_size: int) -> int:
    """Training characters in one step of a character model: rows x context."""
    return cfg.batch_size * block_size


@dataclass(frozen=True)
class Arm:
    """One model of an experiment, ready to train: its tokenizer (JSON), shape and recipe."""

    tokenizer: str  # the tokenizer's JSON
    chars_per_token: float  # in the validation text
    config: GPTConfig
    train: TrainConfig
    spelling_bpc: float = 0.0  # what the unknown token's characters cost, per validation character

    def bpc(self, val_bpc: float) -> float:
        """The model's bits per character, with the characters hidden behind unknown tokens paid for."""
        return val_bpc + self.spelling_bpc

    def train_config(self, checkpoint_path: str | None = None) -> TrainConfig:
        return replace(self.train, block_size=self.config.block_size, checkpoint_path=checkpoint_path)

    def build(self) -> torch.nn.Module:
        torch.manual_seed(self.train.seed)  # the same initial weights for the same settings
        return build_model("gpt", self.config)

    def data(self, text: str, summary: dict | None = None) -> TrainingData:
        """`text` encoded with this model's tokenizer, cut at the same character as every other's."""
        tokenizer = tokenizer_from_json(self.tokenizer)
        return TrainingData(tokenizer, encode_splits(*split_text(text), tokenizer), summary or {})


def spelling_bpc(tokenizer, train_text: str, val_text: str) -> float:
    """Bits per validation character to spell out every piece that reads as the unknown token, one
    character at a time at the training text's character frequencies (a unigram model).

    A word model that predicts "<unk>" well would otherwise get those characters for free, and its
    bits per character would not be comparable: with this charge, its score is the length of a code
    that really reproduces the validation text. 0 for tokenizers that can spell anything."""
    pieces = tokenizer.hidden(val_text) if tokenizer.kind == "word" else []
    if not pieces:
        return 0.0
    counts, total = Counter(train_text), len(train_text)
    bits = sum(-math.log2(counts.get(ch, 0.5) / total) for w in pieces for ch in w)
    return bits / len(val_text)


def make_arm(switch: Switch | None, text: str, base_train: TrainConfig, seed: int) -> Arm:
    """The baseline (switch None) or a switched model for `text`, with as many rows per batch as keep
    its characters per step equal to the baseline's."""
    kind, vocab = (switch.tokenizer, switch.vocab_size) if switch else ("char", None)
    tokenizer = tokenizer_for(kind, text, vocab)  # learned from the training part only
    train_text, val_text = split_text(text)
    cpt = len(val_text) / max(1, len(tokenizer.encode(val_text)))
    config = baseline_config(tokenizer.vocab_size).replace(**(switch.gpt if switch else {}))
    base_chars = chars_per_step(base_train, PRESETS[PRESET]["block_size"])
    rows = max(1, round(base_chars / (config.block_size * cpt)))
    train = replace(base_train, batch_size=rows, seed=seed, **(switch.train if switch else {}))
    return Arm(tokenizer.to_json(), cpt, config, train, spelling_bpc(tokenizer, train_text, val_text))


@dataclass(frozen=True)
class ExperimentSpec:
    """A run that trains the baseline and one switch side by side (one step each in turn). It answers
    what `course.runs` and `course.worker` ask of every spec (see `course.plan.RunSpec`), and gives
    each model its own tokenized text (`data_for`)."""

    switch: str
    arms: dict[str, Arm]  # BASELINE and the switch, by name
    steps: int
    preset: str = "experiment"
    in_turn: ClassVar[bool] = False

    @property
    def models(self) -> tuple[str, ...]:
        return (BASELINE, self.switch)

    @property
    def train(self) -> TrainConfig:
        return self.arms[BASELINE].train

    @property
    def block_size(self) -> int:
        return self.arms[BASELINE].config.block_size

    def model_config(self, kind: str) -> GPTConfig:
        return self.arms[kind].config

    def train_config(self, kind: str, checkpoint_path: str | None = None) -> TrainConfig:
        return self.arms[kind].train_config(checkpoint_path)

    def build(self, kind: str) -> torch.nn.Module:
        return self.arms[kind].build()

    def data_for(self, kind: str, data: TrainingData) -> TrainingData:
        """`data`'s text (the run's character encoding, decoded) in this model's tokens."""
        text = data.tokenizer.decode(torch.cat([data.splits.train, data.splits.val]).tolist())
        return self.arms[kind].data(text, data.summary)

    def resume_path(self, kind: str) -> None:
        return None

    def parameters(self, kind: str) -> int:
        return parameters_of("gpt", self.arms[kind].config)

    def path(self, folder: Path, run_name: str, kind: str) -> Path:
        return Path(folder) / f"{run_name}-{kind}{SUFFIX}"

    def run_name(self, run_id: str) -> str:
        return f"experiment-{self.switch}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id[:4]}"


def make_experiment(switch: str, text: str, chars: int, seed: int = 1337) -> ExperimentSpec:
    """The run comparing `switch` (a key of SWITCHES) with the baseline on `text`, each model reading
    about `chars` training characters (the same number of steps for both)."""
    if switch not in SWITCHES:
        raise ValueError(f"unknown switch {switch!r}; choose one of {', '.join(SWITCHES)}")
    steps = steps_for(chars)
    arms = {
        name: make_arm(SWITCHES.get(name), text, baseline_train(steps), seed) for name in (BASELINE, switch)
    }
    return ExperimentSpec(switch, arms, steps)


def is_experiment(run) -> bool:
    """Whether `run` (a course.runs.Run) is an experiment."""
    return isinstance(run.spec, ExperimentSpec)
