"""What the generation lesson shows around `sample.generate`: a model card from a checkpoint's
metadata, prompts that never fail on unknown characters, a timed text stream, and the data for
stepping through sampling one character at a time (the model's distribution next to the one that
temperature and top-k leave to sample from). Sampling itself is `tinygpt.sample`, reused here.
"""

from __future__ import annotations

import math
import queue
import string
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime

import torch

from course.priority import GENERATION_NICENESS, give_way_to_pages
from course.text import char_label, compact, duration
from tinygpt.checkpoint import Checkpoint
from tinygpt.device import use_threads
from tinygpt.models import count_parameters
from tinygpt.sample import SampleConfig, encode_prompt, generate, next_token_probs
from tinygpt.tokenizers import Tokenizer

# ---- the model card ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """What a learner wants to know about a checkpoint; fields are None where its metadata is silent."""

    model_type: str
    parameters: int
    config: dict
    vocab_size: int
    context_size: int
    steps: int | None
    val_loss: float | None
    device: str | None
    dtype: str | None
    saved_at: str | None
    train_seconds: float | None
    history: list[dict]
    unit: str = "characters"  # what a token is: characters, BPE tokens or words (`token_unit`)


# What one token of each tokenizer (tinygpt.tokenizers) is called on the page.
UNITS = {"char": "characters", "bpe": "BPE tokens", "word": "word tokens"}


def token_unit(tokenizer) -> str:
    return UNITS.get(getattr(tokenizer, "kind", "char"), "tokens")


def model_card(ckpt: Checkpoint) -> ModelCard:
    """The card of a loaded checkpoint. Its summary may come from a stranger's file, so every
    field is type-checked and anything malformed is left out rather than trusted."""
    s = ckpt.summary if isinstance(ckpt.summary, dict) else {}
    return ModelCard(
        model_type=ckpt.model_type,
        parameters=count_parameters(ckpt.model),
        config=asdict(ckpt.config),
        vocab_size=ckpt.tokenizer.vocab_size,
        context_size=ckpt.model.context_size,
        steps=_number(s.get("steps"), int),
        val_loss=_number(s.get("val_loss"), float),
        device=_text(s.get("device")),
        dtype=_text(s.get("dtype")),
        saved_at=_date(s.get("saved_at")),
        train_seconds=_number(s.get("elapsed_seconds"), float),
        history=loss_history(s),
        unit=token_unit(ckpt.tokenizer),
    )


def loss_history(summary: dict) -> list[dict]:
    """The evaluations recorded while training ({step, train_loss, val_loss}), well-formed ones only."""
    rows = summary.get("history") if isinstance(summary, dict) else None
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        values = {k: _number(row.get(k), float) for k in ("step", "train_loss", "val_loss")}
        if None not in values.values():
            out.append({**values, "step": int(values["step"])})
    return out


def describe_config(card: ModelCard) -> str:
    """One line on the model's shape, in nanoGPT's names."""
    if card.model_type == "bigram":
        return f"bigram: one {card.vocab_size} × {card.vocab_size} lookup table, context 1 character"
    c = card.config
    switches = [
        name
        for name, on in (
            ("RMSNorm", c.get("norm") == "rmsnorm"),
            ("post-norm", c.get("norm_position") == "post"),
            ("tied embeddings", c.get("tie_weights")),
        )
        if on
    ]
    return (
        f"GPT: n_layer {c.get('n_layer')} · n_head {c.get('n_head')} · n_embd {c.get('n_embd')} · "
        f"block_size {c.get('block_size')} · dropout {c.get('dropout')}"
        + "".join(f" · {s}" for s in switches)
    )


def card_metrics(card: ModelCard) -> list[tuple[str, str]]:
    """(label, value) pairs for the card's headline numbers; '—' where the metadata is silent."""
    return [
        ("Parameters", compact(card.parameters)),
        ("Training steps", "—" if card.steps is None else f"{card.steps:,}"),
        ("Val loss", "—" if card.val_loss is None else f"{card.val_loss:.3f}"),
        ("Trained on", (card.device or "—").upper()),
    ]


def card_caption(card: ModelCard) -> str:
    """The card's small print: date, training time, precision, vocabulary and context."""
    parts = [f"saved {card.saved_at}" if card.saved_at else "date unknown"]
    if card.train_seconds is not None:
        parts.append(
            f"trained for {duration(card.train_seconds)}" + (f" in {card.dtype}" if card.dtype else "")
        )
    parts.append(f"vocabulary of {card.vocab_size} {card.unit}, {context_note(card.context_size, card.unit)}")
    caption = " · ".join(parts)
    return caption[0].upper() + caption[1:]


def context_note(context: int, unit: str = "characters") -> str:
    """What the model sees while generating: its window slides in jumps of half its context
    (`tinygpt.sample.window_start`), so past the first `context` tokens it sees between half
    and all of them."""
    if context == 1:
        return f"sees only the last {unit.removesuffix('s')}"
    return f"sees up to the last {context} {unit} (at least {context // 2 + 1} once the text is longer)"


def _number(value, kind):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return kind(value)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _date(value) -> str | None:
    """'2026-11-22T00:10:31+0000' -> '2026-11-22 00:10' (None unless it is such a timestamp)."""
    try:
        return datetime.strptime(value[:16], "%Y-%m-%dT%H:%M").strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return None


# ---- prompts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A prompt as the model will see it: `ids`, with `unknown` characters replaced by `replacement`."""

    text: str
    ids: list[int]
    unknown: list[str]
    replacement: str
    shown: str  # the text the ids decode to (what the model actually continues)


def read_prompt(tokenizer: Tokenizer, text: str) -> Prompt:
    """`text` as the model will see it (`tinygpt.sample.encode_prompt`: never raises), with what
    was replaced, for the page to explain."""
    ids = encode_prompt(tokenizer, text)
    shown = tokenizer.decode(ids) if text else ""
    return Prompt(text, ids, tokenizer.unknown(text), tokenizer.default_replacement(), shown)


def unknown_note(prompt: Prompt, tokenizer: Tokenizer) -> str | None:
    """A sentence on the prompt's characters the vocabulary lacks (None when there are none)."""
    if not prompt.unknown:
        return None
    shown = ", ".join(repr(ch) for ch in prompt.unknown[:20]) + (" …" if len(prompt.unknown) > 20 else "")
    return (
        f"Not in this model's vocabulary of {tokenizer.vocab_size} {token_unit(tokenizer)}: {shown}. "
        f"The model sees {'a space' if prompt.replacement == ' ' else repr(prompt.replacement)} in their place."
    )


# ---- streaming text ----------------------------------------------------------------------------


# Batch-1 decoding multiplies a single row by each weight matrix: too little work to split across
# threads, and a second thread that must wait for a core already busy (say, with a training run)
# stalls every step. Measured on a 2-core CPU while a training run held both cores: 328 characters/s
# on one thread against 26 on two, for the 3.2M-parameter `small` GPT with the KV cache.
DECODE_THREADS = 1


class TimedStream:
    """Iterate over this for the continuation in chunks (one per `chunk_seconds`), e.g. to hand a
    page's `st.write_stream`. Afterwards `text`, `n_chars`, `seconds` and `chars_per_sec` say what
    was made and how fast; only the time spent inside the model counts, not the page drawing it.
    The model samples in a thread of its own that gives way to the pages (course.priority): on a
    server shared by a class, a viewer's generation must not slow everyone's sliders."""

    def __init__(
        self, model, tokenizer: Tokenizer, ids: Sequence[int], cfg: SampleConfig, chunk_seconds=0.05
    ):
        self.model, self.tokenizer, self.ids, self.cfg = model, tokenizer, list(ids), cfg
        self.chunk_seconds = chunk_seconds
        self.text = ""
        self.seconds = 0.0

    @property
    def n_chars(self) -> int:
        return len(self.text)

    @property
    def chars_per_sec(self) -> float:
        return self.n_chars / self.seconds if self.seconds > 0 else 0.0

    def __iter__(self) -> Iterator[str]:
        chars, stop = queue.SimpleQueue(), threading.Event()
        worker = threading.Thread(
            target=self._sample, args=(chars, stop), name="tinygpt-generate", daemon=True
        )
        worker.start()
        pending, last_flush = "", time.perf_counter()
        try:
            while (char := chars.get()) is not _END:
                if isinstance(char, BaseException):
                    raise char
                self.text += char
                pending += char
                if time.perf_counter() - last_flush >= self.chunk_seconds:
                    yield pending
                    pending, last_flush = "", time.perf_counter()
            if pending:
                yield pending
        finally:  # also when the page stops reading (the viewer moved on): the sampling stops too
            stop.set()
            worker.join()

    def _sample(self, chars: queue.SimpleQueue, stop: threading.Event) -> None:
        """The worker: each sampled character into `chars`, then _END (or the exception raised)."""
        give_way_to_pages(GENERATION_NICENESS)
        use_threads(DECODE_THREADS)  # this thread's own count
        try:
            tokens = generate(self.model, self.ids, self.cfg)
            while not stop.is_set():
                t0 = time.perf_counter()
                sampled = next(tokens, None)
                self.seconds += time.perf_counter() - t0
                if sampled is None:
                    break
                chars.put(self.tokenizer.itos[sampled.token])
        except Exception as e:  # noqa: BLE001 - handed to the page's thread, which raises it
            chars.put(e)
            return
        chars.put(_END)


_END = object()  # what the sampling thread sends after the last character


_ESCAPE = {ch: "\\" + ch for ch in string.punctuation}


def as_markdown(text: str) -> str:
    """Generated text that Markdown shows verbatim: punctuation escaped (so `#`, `*`, `$` or `1.`
    at a line start stay text) and every newline a hard line break. Works chunk by chunk."""
    return "".join(_ESCAPE.get(ch, ch) for ch in text).replace("\n", "  \n")


# ---- stepping through sampling -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One generated character: the ids the model saw, the token drawn, the model's own distribution
    (`probs`, temperature 1, no top-k) and the one it was drawn from (`shaped`)."""

    context: tuple[int, ...]
    token: int
    probs: torch.Tensor  # (vocab_size,)
    shaped: torch.Tensor  # (vocab_size,)


def step_through(model, ids: Sequence[int], cfg: SampleConfig, n_steps: int) -> list[Step]:
    """The first `n_steps` characters that `generate(model, ids, cfg)` would produce (the same ones,
    under the same seed), each with the model's plain distribution recomputed at that point."""
    plain = SampleConfig(max_new_tokens=1, seed=0, use_cache=cfg.use_cache)
    tokens, steps = list(ids), []
    with use_threads(DECODE_THREADS):
        for s in generate(model, ids, replace(cfg, max_new_tokens=n_steps), with_probs=True):
            probs = next(generate(model, tokens, plain, with_probs=True)).probs
            steps.append(Step(tuple(tokens), s.token, probs, s.probs))
            tokens.append(s.token)
    return steps


def reshape(probs: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """What `temperature` and `top_k` make of a temperature-1 distribution: since softmax ignores a
    constant shift, log(probs) stands in for the logits in `sample.next_token_probs`."""
    return next_token_probs(torch.log(probs), temperature, top_k)


def top_candidates(step: Step, tokenizer: Tokenizer, n: int = 10) -> list[dict]:
    """The `n` likeliest next characters under the model (plus the sampled one if it is not among
    them), most likely first: char, label, rank, p_model, p_shaped, sampled."""
    order = torch.argsort(step.probs, descending=True).tolist()
    rank = {token: i + 1 for i, token in enumerate(order)}
    shown = order[:n] + ([step.token] if rank[step.token] > n else [])
    return [
        {
            "char": tokenizer.itos[t],
            "label": char_label(tokenizer.itos[t]),
            "rank": rank[t],
            "p_model": float(step.probs[t]),
            "p_shaped": float(step.shaped[t]),
            "sampled": t == step.token,
        }
        for t in shown
    ]


def step_summary(step: Step, tokenizer: Tokenizer) -> list[tuple[str, str, str]]:
    """(label, value, comparison with the plain model) for the sampled character of `step`."""
    rank = int((step.probs > step.probs[step.token]).sum()) + 1
    p_shaped, p_model = float(step.shaped[step.token]), float(step.probs[step.token])
    return [
        ("Sampled", repr(tokenizer.itos[step.token]), f"rank {rank} for the model"),
        ("Its probability", f"{p_shaped:.1%}", f"{p_model:.1%} at temperature 1"),
        (
            "Choices (perplexity)",
            f"{perplexity(step.shaped):.1f}",
            f"{perplexity(step.probs):.1f} for the model",
        ),
    ]


def perplexity(probs: torch.Tensor) -> float:
    """exp(entropy): how many characters the distribution is as unsure as a fair choice between."""
    p = probs[probs > 0]
    return math.exp(-float((p * p.log()).sum()))
