"""Sampling: one token at a time, as an iterator, so text can stream onto a page.

nanoGPT's `generate` (temperature, top-k, under no_grad) plus a KV cache. nanoGPT crops the context
to the last block_size tokens at every step; here each cached key was computed with its position's
embedding, so keys stop being valid once the context slides; the context therefore slides in jumps
of half a block (see `window_start`), and the cached and uncached paths follow that same rule and
pick the same tokens under the same seed. With the cache, each new token runs through
`GPT.decoder()`, the model's forward pass for a single token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class SampleConfig:
    max_new_tokens: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    seed: int | None = None
    use_cache: bool = True
    greedy: bool = False  # always take the most likely token (minGPT's do_sample=False)

    def __post_init__(self):
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be 0 or more")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be above 0 (got {self.temperature})")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be at least 1 (got {self.top_k})")


@dataclass(frozen=True)
class Sampled:
    """One generated token; `probs` is the distribution it was drawn from (when asked for)."""

    token: int
    probs: torch.Tensor | None = None


def window_start(length: int, context: int) -> int:
    """Where the model's view starts in a sequence of `length` tokens, given `context` positions.

    Up to `context` tokens: all of them. Beyond: the window moves forward in steps of
    context // 2, so a KV cache is rebuilt (a forward pass over the half block kept) once every
    context // 2 tokens, not at every token. The model still sees at least half its context; the
    shipped GPT's loss is flat past about 32 characters (docs/benchmarks.md), so nothing is lost.
    """
    if length <= context:
        return 0
    step = max(1, context // 2)
    return -(-(length - context) // step) * step  # ceil to a multiple of step


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None):
    """The distribution to sample from: logits / temperature, all but the top k removed, softmax."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1)


def generate(
    model, idx: Sequence[int], cfg: SampleConfig = SampleConfig(), with_probs: bool = False
) -> Iterator[Sampled]:
    """Yield `cfg.max_new_tokens` tokens continuing the ids `idx` (at least one id)."""
    if len(idx) == 0:
        raise ValueError("generation needs at least one token to start from")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if cfg.seed is not None:
        generator.manual_seed(cfg.seed)
    else:
        generator.seed()
    tokens = list(int(i) for i in idx)
    was_training = model.training
    model.eval()
    try:
        step = _CachedStep(model) if cfg.use_cache and hasattr(model, "new_cache") else _FullStep(model)
        for _ in range(cfg.max_new_tokens):
            with torch.inference_mode():
                probs = next_token_probs(step(tokens), cfg.temperature, cfg.top_k)  # (vocab,)
                if cfg.greedy:
                    token = int(probs.argmax())
                else:
                    token = int(torch.multinomial(probs, 1, generator=generator))
            tokens.append(token)
            yield Sampled(token, probs.cpu() if with_probs else None)
    finally:
        model.train(was_training)


class _FullStep:
    """Logits for the next token by running the model over the whole window."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device

    def __call__(self, tokens: list[int]) -> torch.Tensor:
        start = window_start(len(tokens), self.model.context_size)
        x = torch.tensor([tokens[start:]], dtype=torch.long, device=self.device)  # (1, T)
        logits, _ = self.model(x)
        return logits[0, -1]


class _CachedStep:
    """Logits for the next token feeding only the new token, keys and values kept in a KV cache."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device
        self.cache = None
        self.start = 0
        self.decode = model.decoder() if hasattr(model, "decoder") else None

    def __call__(self, tokens: list[int]) -> torch.Tensor:
        start = window_start(len(tokens), self.model.context_size)
        fresh = self.cache is None or start != self.start
        if fresh:  # the window moved: positions changed, so prefill a new cache
            self.cache, self.start = self.model.new_cache(1), start
        new = tokens[self.start + self.cache.length :]
        if len(new) == 1 and self.decode is not None:
            return self.decode(new[0], self.cache)  # the usual case: one token at a time
        x = torch.tensor([new], dtype=torch.long, device=self.device)  # (1, T_new)
        logits, _ = self.model(x, cache=self.cache)
        return logits[0, -1]


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """The ids to start generating from, for any tokenizer (tinygpt.tokenizers), never raising:
    what the vocabulary lacks is replaced (`tokenizer.default_replacement()`; a word model's unknown
    token), and an empty prompt starts from a newline (or token 0 without one)."""
    return tokenizer.encode(prompt, unknown="replace") or tokenizer.encode("\n", unknown="drop")[:1] or [0]


def decode_stream(tokenizer, tokens: Iterable[int]) -> Iterator[str]:
    """The text of `tokens` piece by piece as they arrive. A BPE token can end inside a multi-byte
    character; its text then waits (up to 4 tokens, a character's most bytes) for the rest."""
    pending: list[int] = []
    for token in tokens:
        pending.append(token)
        text = tokenizer.decode(pending)
        if text.endswith("\ufffd") and len(pending) < 4:
            continue
        yield text
        pending = []
    if pending:
        yield tokenizer.decode(pending)


def generate_text(model, tokenizer, prompt: str, cfg: SampleConfig = SampleConfig()) -> str:
    """The prompt's continuation as text (the prompt encoded by `encode_prompt`)."""
    return tokenizer.decode(s.token for s in generate(model, encode_prompt(tokenizer, prompt), cfg))
