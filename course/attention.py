"""The lecture's "mathematical trick in self-attention", one version at a time, for drawing.

Versions 1-3 make each position the average of itself and its past (a Python loop; a matmul with a
row-normalised lower-triangular matrix; a -inf mask and softmax). Version 4 lets the weights depend on
the data: one head of self-attention with q, k, v from seeded random linear maps. Also here: why scores
are scaled by 1/sqrt(head_size), softmax temperature, the multi-head split, and the real attention weights
of a trained GPT. Follows Karpathy's "Let's build GPT" lecture; every function returns small dataclasses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from course.text import char_label
from tinygpt.checkpoint import Checkpoint
from tinygpt.gpt import causal_mask
from tinygpt.sample import encode_prompt

# The lecture's example of softmax turning sharp when its inputs grow.
LECTURE_SCORES = (0.1, -0.2, 0.3, -0.2, 0.5)
HEAD_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def toy_input(T: int, C: int, seed: int = 1337) -> torch.Tensor:
    """x (T, C): one sequence of T time steps with C channels each, standard normal under `seed`."""
    if T < 1 or C < 1:
        raise ValueError(f"T and C must be at least 1 (got T={T}, C={C})")
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, C, generator=g)


# ---- versions 1-3: the average of the past -------------------------------------------------------


def average_loop(x: torch.Tensor) -> torch.Tensor:
    """Version 1: xbow[t] = mean(x[0..t]) with a loop over time. x (T, C) -> (T, C)."""
    T = x.size(0)
    xbow = torch.zeros_like(x)
    for t in range(T):
        xprev = x[: t + 1]  # (t+1, C): this token and everything before it
        xbow[t] = torch.mean(xprev, 0)  # (C,)
    return xbow


def average_matmul(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Version 2: the same average as one matrix multiply. Returns (wei (T, T), xbow (T, C))."""
    T = x.size(0)
    wei = torch.tril(torch.ones(T, T, dtype=x.dtype))
    wei = wei / wei.sum(1, keepdim=True)  # row t holds 1/(t+1) in its first t+1 places
    xbow2 = wei @ x  # (T, T) @ (T, C) -> (T, C)
    return wei, xbow2


def average_softmax(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Version 3: zero affinities, -inf above the diagonal, softmax. Returns (wei (T, T), xbow (T, C))."""
    T = x.size(0)
    tril = torch.tril(torch.ones(T, T))
    wei = torch.zeros(T, T, dtype=x.dtype)  # affinities: all equal here; version 4 computes them
    wei = wei.masked_fill(tril == 0, float("-inf"))  # the future cannot talk to the past
    wei = F.softmax(wei, dim=-1)  # exp(-inf) = 0, the rest share 1 equally
    xbow3 = wei @ x  # (T, T) @ (T, C) -> (T, C)
    return wei, xbow3


@dataclass(frozen=True)
class Averaging:
    """One version of the average: its weight matrix and its output."""

    name: str
    wei: torch.Tensor  # (T, T)
    out: torch.Tensor  # (T, C)


@dataclass(frozen=True)
class TrickDemo:
    """Versions 1-3 on the same x, and how far apart their outputs are."""

    x: torch.Tensor  # (T, C)
    versions: tuple[Averaging, ...]
    allclose: bool  # torch.allclose of every output with version 1's
    max_abs_diff: float  # the largest |difference| between any output and version 1's


def averaging_trick(x: torch.Tensor) -> TrickDemo:
    """Run versions 1-3 on x (T, C). Version 1 has no matrix: feeding it the identity reveals the one
    it applies, since loop(I)[t, s] = mean(I[0..t], 0)[s] = 1/(t+1) for s <= t."""
    eye = torch.eye(x.size(0), dtype=x.dtype)
    versions = (
        Averaging("Version 1 · loops", average_loop(eye), average_loop(x)),
        Averaging("Version 2 · matmul", *average_matmul(x)),
        Averaging("Version 3 · softmax", *average_softmax(x)),
    )
    first = versions[0].out
    same = all(torch.allclose(first, v.out) for v in versions[1:])
    diff = max((first - v.out).abs().max().item() for v in versions[1:])
    return TrickDemo(x, versions, same, diff)


# ---- version 4: self-attention -------------------------------------------------------------------


@dataclass(frozen=True)
class HeadWeights:
    """The three linear maps of a head, laid out like nn.Linear(C, head_size, bias=False).weight."""

    key: torch.Tensor  # (head_size, C)
    query: torch.Tensor  # (head_size, C)
    value: torch.Tensor  # (head_size, C)

    @property
    def head_size(self) -> int:
        return self.key.size(0)


def random_head(C: int, head_size: int, seed: int = 1337) -> HeadWeights:
    """Untrained weights drawn as nn.Linear draws them, U(-1/sqrt(C), 1/sqrt(C)), under `seed`."""
    if head_size < 1:
        raise ValueError(f"head_size must be at least 1 (got {head_size})")
    g = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(C)
    key, query, value = ((torch.rand(head_size, C, generator=g) * 2 - 1) * bound for _ in range(3))
    return HeadWeights(key, query, value)


@dataclass(frozen=True)
class Attention:
    """Every intermediate of one head on one sequence."""

    q: torch.Tensor  # (T, hs)
    k: torch.Tensor  # (T, hs)
    v: torch.Tensor  # (T, hs)
    scores: torch.Tensor  # (T, T) q·kᵀ, times 1/sqrt(hs) when scaled
    masked: torch.Tensor  # (T, T) scores with -inf above the diagonal when causal
    wei: torch.Tensor  # (T, T) softmax over each row of `masked`
    out: torch.Tensor  # (T, hs) wei @ v


def attend(q, k, v, causal: bool = True, scale: bool = True):
    """Scores, masked scores, weights and output for q, k, v (..., T, hs)."""
    T, hs = q.size(-2), q.size(-1)
    scores = q @ k.transpose(-2, -1)  # (..., T, hs) @ (..., hs, T) -> (..., T, T)
    if scale:
        scores = scores * hs**-0.5  # keeps the scores' variance near 1 whatever the head size
    masked = scores.masked_fill(~causal_mask(T, T, q.device), float("-inf")) if causal else scores
    wei = F.softmax(masked, dim=-1)  # (..., T, T), each row sums to 1
    out = wei @ v  # (..., T, T) @ (..., T, hs) -> (..., T, hs)
    return scores, masked, wei, out


def self_attention(x: torch.Tensor, head: HeadWeights, causal: bool = True, scale: bool = True) -> Attention:
    """Version 4: one head of self-attention on x (T, C). `causal=False` is an encoder block
    (every token sees every other); `scale=False` leaves out the 1/sqrt(head_size)."""
    k = x @ head.key.T  # (T, C) @ (C, hs) -> (T, hs): what each token contains
    q = x @ head.query.T  # (T, hs): what each token is looking for
    v = x @ head.value.T  # (T, hs): what each token passes on if attended to
    return Attention(q, k, v, *attend(q, k, v, causal, scale))


@dataclass(frozen=True)
class MultiHead:
    """Several heads on the same x, each with its own weights, and their outputs side by side."""

    heads: tuple[Attention, ...]  # n_head of them, each of head size C // n_head
    out: torch.Tensor  # (T, C): the heads' outputs concatenated
    proj: torch.Tensor  # (T, C): the concatenation through the output projection, which mixes the heads


def multi_head_attention(
    x: torch.Tensor, n_head: int, seed: int = 1337, causal: bool = True, scale: bool = True
) -> MultiHead:
    """Split one (C -> C) q, k, v projection into `n_head` heads of size C // n_head, attend in each,
    concatenate back to C and project (C -> C), as the GPT's CausalSelfAttention does."""
    T, C = x.shape
    if n_head < 1 or C % n_head:
        raise ValueError(f"C ({C}) must be divisible by n_head ({n_head})")
    hs = C // n_head
    full = random_head(C, C, seed)  # rows h*hs:(h+1)*hs belong to head h
    q, k, v = (
        (x @ w.T).view(T, n_head, hs).transpose(0, 1)  # (T, C) -> (T, nh, hs) -> (nh, T, hs)
        for w in (full.query, full.key, full.value)
    )
    scores, masked, wei, out = attend(q, k, v, causal, scale)  # out (nh, T, hs)
    heads = tuple(Attention(q[h], k[h], v[h], scores[h], masked[h], wei[h], out[h]) for h in range(n_head))
    y = out.transpose(0, 1).reshape(T, C)  # (nh, T, hs) -> (T, nh, hs) -> (T, C)
    w_proj = random_head(C, C, seed + 1).value  # (C, C), drawn as nn.Linear(C, C) draws it
    return MultiHead(heads, y, y @ w_proj.T)  # (T, C) @ (C, C) -> (T, C)


def split_head(full: HeadWeights, h: int, head_size: int) -> HeadWeights:
    """Head h's own (head_size, C) maps out of a (C, C) projection split into heads."""
    rows = slice(h * head_size, (h + 1) * head_size)
    return HeadWeights(full.key[rows], full.query[rows], full.value[rows])


# ---- why scale by 1/sqrt(head_size) --------------------------------------------------------------


@dataclass(frozen=True)
class ScaleStats:
    """Variance of q·k for unit-variance q and k, by head size, before and after scaling."""

    head_sizes: tuple[int, ...]
    var_unscaled: tuple[float, ...]  # grows like head_size
    var_scaled: tuple[float, ...]  # stays near 1


def score_variance(head_sizes=HEAD_SIZES, n_samples: int = 4000, seed: int = 0) -> ScaleStats:
    """Measure var(q·k) and var(q·k / sqrt(hs)) over `n_samples` random pairs per head size."""
    g = torch.Generator().manual_seed(seed)
    unscaled, scaled = [], []
    for hs in head_sizes:
        q = torch.randn(n_samples, hs, generator=g)
        k = torch.randn(n_samples, hs, generator=g)
        dots = (q * k).sum(-1)  # (n_samples,): a sum of hs products of variance 1
        unscaled.append(dots.var().item())
        scaled.append((dots * hs**-0.5).var().item())
    return ScaleStats(tuple(head_sizes), tuple(unscaled), tuple(scaled))


def softmax_temperature(scores, temperature: float) -> torch.Tensor:
    """softmax(scores / temperature): a low temperature (big scores) collapses toward one-hot."""
    if not temperature > 0:
        raise ValueError(f"temperature must be above 0 (got {temperature})")
    return F.softmax(torch.as_tensor(scores, dtype=torch.float32) / temperature, dim=-1)


# ---- attention inside a trained GPT --------------------------------------------------------------


@dataclass(frozen=True)
class ModelAttention:
    """A trained GPT's attention weights on a prompt, ready to draw."""

    weights: torch.Tensor  # (n_layer, n_head, T, T)
    labels: tuple[str, ...]  # "position:character" per token, so repeated characters stay apart
    text: str  # what the model saw: unknown characters replaced, cropped to block_size
    unknown: tuple[str, ...]  # prompt characters outside the vocabulary
    replacement: str  # what they were replaced with
    cropped: int  # characters dropped from the start to fit block_size


def token_labels(pieces) -> tuple[str, ...]:
    """'3:a' style axis labels, one per token (`pieces`: a text's characters, or each token's text);
    spaces and newlines are drawn as visible symbols."""
    return tuple(f"{i}:{char_label(piece)}" for i, piece in enumerate(pieces))


def model_attention(ckpt: Checkpoint, prompt: str) -> ModelAttention:
    """The attention weights of every layer and head of `ckpt`'s GPT on `prompt` (explicit mode).

    Unknown characters are replaced (and reported); a prompt longer than block_size keeps its end.
    Raises ValueError for a bigram checkpoint (it has no attention) or an empty prompt.
    """
    if ckpt.model_type != "gpt":
        raise ValueError("this checkpoint is a bigram model: it has no attention to show")
    if not prompt:
        raise ValueError("type a prompt of at least one character")
    tok = ckpt.tokenizer
    ids = encode_prompt(tok, prompt)
    cropped = max(0, len(ids) - ckpt.config.block_size)
    ids = ids[cropped:]
    device = next(ckpt.model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    maps = ckpt.model.attention_maps(idx)  # (n_layer, 1, n_head, T, T)
    text = tok.decode(ids)
    return ModelAttention(
        maps[:, 0].float().cpu(),  # (n_layer, n_head, T, T)
        token_labels([tok.itos[i] for i in ids]),
        text,
        tuple(tok.unknown(prompt)),
        tok.default_replacement(),
        cropped,
    )
