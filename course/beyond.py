"""From TinyGPT to ChatGPT, the closing lesson's numbers: our GPT class built at any size (on
PyTorch's meta device, so even GPT-3's shape costs no memory), the training compute of each model
(about 6 × parameters × tokens), and fine-tuning: a copy of a pre-trained model trained a few steps
more on question-answer pairs with the library's own `train()`. Published figures: GPT-3 from Brown
et al. 2020 (Table 2.1), the lecture's model from the "Let's build GPT" video and its gpt.py.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from tinygpt.checkpoint import Checkpoint
from tinygpt.data import Splits
from tinygpt.gpt import GPTConfig
from tinygpt.models import build_model, config_for, count_parameters
from tinygpt.sample import SampleConfig, generate_text
from tinygpt.train import StepEvent, TrainConfig, train

# The handoff the lecture ends on: where each part of this library lives in nanoGPT, and what we added.
NANOGPT_MAP = """
| TinyGPT | nanoGPT | what TinyGPT adds, and why |
|---|---|---|
| `tinygpt/gpt.py`: `GPTConfig`, `CausalSelfAttention`, `MLP`, `Block`, `GPT` | `model.py`: the same classes and names | switches that take pieces away (lesson 3's climb), `init` and bias options (`lecture-exact`), a one-token decoder with a KV cache (fast sampling) |
| `tinygpt/train.py`: `train()`, `get_lr`, `estimate_loss` | `train.py`, a script set up by globals | a generator of events (the pages chart them), exact resuming, a divergence guard, Muon as an option |
| `tinygpt/optim.py` | `GPT.configure_optimizers` in `model.py` | Muon for the blocks' matrices, for fast CPU runs |
| `tinygpt/sample.py` | `sample.py` | tokens streamed one at a time; the KV cache's half-block window |
| `tinygpt/checkpoint.py` | `torch.save` of a dict (`ckpt.pt`) | safetensors and JSON metadata: opening a file cannot run code |
| `tinygpt/data.py`, `corpus.py` | `data/shakespeare_char/prepare.py` | the same character vocabulary and 90/10 split, kept in memory |
"""

GPT2_VOCAB = 50257  # GPT-2's and GPT-3's BPE vocabulary
NAMES = {"gpt": "TinyGPT", "bigram": "Bigram"}
TOKENS_PER_PARAM = 20  # compute-optimal training data per parameter (Hoffmann et al. 2022, "Chinchilla")


@dataclass(frozen=True)
class Scale:
    """One model's size and training data; `published` is the size its authors report."""

    name: str
    params: int  # our GPT class (or the bigram) built at this shape
    published: int | None
    n_layer: int
    n_embd: int
    block_size: int
    vocab_size: int
    train_tokens: int  # tokens the model was trained on (steps × batch × block for ours)

    @property
    def flops(self) -> float:
        """Training compute, about 6 FLOPs per parameter per token (forward 2, backward 4)."""
        return 6.0 * (self.published or self.params) * self.train_tokens

    @property
    def tokens_per_param(self) -> float:
        return self.train_tokens / (self.published or self.params)


@functools.lru_cache(maxsize=256)
def parameters_of(model_type: str, config) -> int:
    """The parameter count of the model `config` describes, built on the meta device: shapes only,
    no memory. A GPT's blocks are all alike, so the counts with one layer and with two give the
    count at any depth: building 96 layers, even on the meta device, took 0.1-0.2 s of Python."""
    if model_type == "gpt" and config.n_layer > 2:
        one, two = (parameters_of("gpt", replace(config, n_layer=n)) for n in (1, 2))
        return one + (config.n_layer - 1) * (two - one)
    with torch.device("meta"):
        return count_parameters(build_model(model_type, config))


def gpt_parameters(n_layer: int, n_embd: int, block_size: int, vocab_size: int) -> int:
    """`parameters_of` our GPT at another size."""
    return parameters_of("gpt", gpt_shape(n_layer, n_embd, block_size, vocab_size))


def gpt_shape(n_layer: int, n_embd: int, block_size: int, vocab_size: int, n_head: int = 1) -> GPTConfig:
    """Our GPT's config at another size (the number of heads does not change the parameter count)."""
    return GPTConfig(
        vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd
    )


def trained_scale(name: str, model_type: str, config, summary: dict) -> Scale:
    """A trained checkpoint's row, its training tokens read from its metadata."""
    train_cfg = summary.get("train_config", {})
    block = train_cfg.get("block_size") or getattr(config, "block_size", 8)
    tokens = summary.get("steps", 0) * train_cfg.get("batch_size", 0) * block
    n_layer, n_embd = getattr(config, "n_layer", 0), getattr(config, "n_embd", config.vocab_size)
    params = parameters_of(model_type, config)
    return Scale(name, params, None, n_layer, n_embd, block, config.vocab_size, tokens)


def checkpoint_scale(name: str, meta: dict) -> Scale:
    """The row of a listed checkpoint (`list_checkpoints` metadata), without loading its weights."""
    config = config_for(meta["model_type"], {**meta["config"], "vocab_size": meta["vocab_size"]})
    return trained_scale(name, meta["model_type"], config, meta["summary"])


def scale_rows(shipped: list[tuple[Path, dict]]) -> tuple[list[Scale], float | None]:
    """The shipped checkpoints' rows (smallest first) then the published ones, and the speed (FLOP/s)
    the shipped GPT trained at, from its metadata (None without it)."""
    rows, rate = [], None
    for _, meta in shipped:
        row = checkpoint_scale(f"{NAMES[meta['model_type']]} (shipped)", meta)
        rows.append(row)
        if meta["model_type"] == "gpt" and meta["summary"].get("elapsed_seconds"):
            rate = flops_per_second(row, meta["summary"]["elapsed_seconds"])
    return sorted(rows, key=lambda r: r.params) + published_scales(), rate


def published_scales() -> list[Scale]:
    """The lecture's final model (5,000 steps of 64 × 256 tokens) and GPT-3 175B (300B tokens)."""
    lecture = GPTConfig.preset("lecture", vocab_size=65)
    gpt3 = gpt_shape(96, 12288, 2048, GPT2_VOCAB, n_head=96)
    return [
        Scale(
            "The lecture's GPT", parameters_of("gpt", lecture), 10_788_929, 6, 384, 256, 65, 5000 * 64 * 256
        ),
        Scale("GPT-3", parameters_of("gpt", gpt3), 175_000_000_000, 96, 12288, 2048, GPT2_VOCAB, 300 * 10**9),
    ]


def flops_per_second(scale: Scale, seconds: float) -> float:
    """The training speed a run reached, in FLOP/s, from its compute and its wall time."""
    return scale.flops / seconds


# ---- fine-tuning ---------------------------------------------------------------------------------

QA_PAIRS = (
    ("Who art thou?", "I am a little model, taught by the plays of Shakespeare."),
    ("What is love?", "Love is a smoke made with the fume of sighs."),
    ("Where is Romeo?", "He is in Mantua, and will return at night."),
    ("What hour is it?", "It is the hour of supper, good my lord."),
    ("Shall I go?", "Go, and go quickly, for the time is short."),
    ("Who is the king?", "Richard is king, though not for long, I fear."),
)


def qa_text(pairs=QA_PAIRS) -> str:
    return "".join(f"{question_prompt(q)} {a}\n\n" for q, a in pairs)


def question_prompt(question: str) -> str:
    return f"QUESTION: {question}\nANSWER:"


@dataclass
class FineTuned:
    model: torch.nn.Module  # a trained copy; the checkpoint's model is untouched
    losses: list[float]  # the loss of each step
    unknown: list[str]  # characters of the text outside the model's vocabulary (replaced)


def fine_tune(
    ckpt: Checkpoint, text: str, steps: int, progress: Callable[[float], None] | None = None
) -> FineTuned:
    """Train a copy of `ckpt`'s model `steps` more steps on `text` with the recipe "fine-tune"
    (tinygpt.train.RECIPES: the lecture's constant 3e-4, no warmup, no weight decay, batch 8 of up to 64
    characters). The same `train()` as pre-training: fine-tuning is more training, on far less (and more
    carefully chosen) data. It trains here, in the page's own run, not in a run's worker process: the
    viewer waits for it behind a progress bar (about 10 s for 30 steps), and the tuned copy is needed in
    this process at once, to answer the viewer's question, and nowhere else (it is never saved)."""
    tok = ckpt.tokenizer
    ids = tok.encode(text, unknown="replace")
    if len(ids) < 2:
        raise ValueError("write at least two characters to fine-tune on")
    data = torch.tensor(ids)
    block = min(64, len(ids) - 1, getattr(ckpt.config, "block_size", 64))
    cfg = TrainConfig.preset("fine-tune", block_size=block, max_steps=steps, eval_interval=steps)
    model, losses = copy.deepcopy(ckpt.model), []
    for event in train(model, Splits(data, data), cfg):  # no held-out text: we want it to learn these
        if isinstance(event, StepEvent):
            losses.append(event.loss)
            if progress is not None:
                progress(event.step / steps)
    return FineTuned(model.eval(), losses, tok.unknown(text))


def answer(model, ckpt: Checkpoint, question: str, seed: int = 1, max_new_tokens: int = 100) -> str:
    """ "QUESTION: ...\\nANSWER:" and the model's continuation of it (sampled under `seed`)."""
    cfg = SampleConfig(max_new_tokens=max_new_tokens, seed=seed)
    prompt = question_prompt(question)
    return prompt + generate_text(model, ckpt.tokenizer, prompt, cfg)
