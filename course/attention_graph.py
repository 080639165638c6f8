"""The lecture's notes on attention, each as a small computation: attention as a directed graph
(drawn from the mask and the weights), encoder vs decoder blocks (the mask off), attention over a set
(no notion of order), cross-attention (queries from one sequence, keys and values from another), and
batch rows that never talk to each other (run through the GPT's own CausalSelfAttention).
Builds on `course.attention`; every function returns tensors or small dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from course.attention import Attention, HeadWeights, attend, self_attention
from tinygpt.gpt import CausalSelfAttention, GPTConfig, causal_mask

# ---- attention as a directed graph ---------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """Information sent from position `src` (its value) to position `dst` (its query), with the weight
    of that message in dst's weighted sum."""

    src: int
    dst: int
    weight: float


@dataclass(frozen=True)
class AttentionGraph:
    n_src: int  # positions that send (keys and values)
    n_dst: int  # positions that receive (queries)
    edges: tuple[Edge, ...]  # one per pair the mask allows

    def into(self, dst: int) -> tuple[Edge, ...]:
        """The edges that arrive at `dst`: whose values it mixes, and how much of each."""
        return tuple(e for e in self.edges if e.dst == dst)


def attention_graph(wei: torch.Tensor, allowed: torch.Tensor | None = None) -> AttentionGraph:
    """The graph of one head: an edge s -> t wherever `allowed[t, s]` (the mask; every pair when None),
    weighted by `wei[t, s]`. wei and allowed are (T_q, T_k)."""
    n_dst, n_src = wei.shape
    if allowed is None:
        allowed = torch.ones(n_dst, n_src, dtype=torch.bool)
    edges = tuple(
        Edge(s, t, float(wei[t, s])) for t in range(n_dst) for s in range(n_src) if bool(allowed[t, s])
    )
    return AttentionGraph(n_src, n_dst, edges)


def graph_of(x: torch.Tensor, head: HeadWeights, causal: bool) -> tuple[AttentionGraph, Attention]:
    """The graph of one self-attention head on x (T, C): a decoder (causal) or an encoder block."""
    att = self_attention(x, head, causal=causal)
    T = x.size(0)
    return attention_graph(att.wei, causal_mask(T, T) if causal else None), att


# ---- encoder vs decoder: one line apart ----------------------------------------------------------


@dataclass(frozen=True)
class EncoderDecoder:
    decoder: Attention  # with the causal mask: position t reads positions 0..t
    encoder: Attention  # without it: every position reads every position
    same_last_row: bool  # the last position reads everything in both, so its row is the same


def encoder_vs_decoder(x: torch.Tensor, head: HeadWeights) -> EncoderDecoder:
    dec, enc = self_attention(x, head, causal=True), self_attention(x, head, causal=False)
    return EncoderDecoder(dec, enc, torch.allclose(dec.wei[-1], enc.wei[-1]))


def shuffle_check(x: torch.Tensor, head: HeadWeights, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Attention acts on a set: shuffle the tokens of x (T, C) and an encoder's outputs shuffle the same
    way. Returns the permutation and max |out(shuffled x) - shuffled out(x)| (rounding only); this is
    why a GPT adds position embeddings."""
    perm = torch.randperm(x.size(0), generator=torch.Generator().manual_seed(seed))
    out = self_attention(x, head, causal=False).out
    out_shuffled = self_attention(x[perm], head, causal=False).out
    return perm, (out_shuffled - out[perm]).abs().max().item()


# ---- cross-attention -----------------------------------------------------------------------------


def cross_attention(x: torch.Tensor, context: torch.Tensor, head: HeadWeights) -> Attention:
    """Queries from x (T_q, C), keys and values from another sequence, `context` (T_k, C): how an
    encoder-decoder Transformer's decoder reads the encoder's output (e.g. the sentence to translate).
    No mask: the context is given in full. Output (T_q, hs), weights (T_q, T_k)."""
    if x.size(-1) != context.size(-1):
        raise ValueError(f"x and context need the same width C (got {x.size(-1)} and {context.size(-1)})")
    q = x @ head.query.T  # (T_q, C) @ (C, hs) -> (T_q, hs): what each of x's tokens looks for
    k = context @ head.key.T  # (T_k, hs): what each context token contains
    v = context @ head.value.T  # (T_k, hs): what it passes on
    return Attention(q, k, v, *attend(q, k, v, causal=False))


def matches_pytorch(att: Attention) -> bool:
    """Our attention equals PyTorch's own `F.scaled_dot_product_attention` on the same q, k, v."""
    return torch.allclose(att.out, F.scaled_dot_product_attention(att.q, att.k, att.v), atol=1e-6)


# ---- batch rows never talk ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchDemo:
    x: torch.Tensor  # (B, T, C) the batch
    changed: torch.Tensor  # (B, T, C) the same batch with one row replaced
    out: torch.Tensor  # (B, T, C) the layer's output on x
    out_changed: torch.Tensor  # (B, T, C) on `changed`
    row: int  # the row that was replaced
    row_diff: tuple[float, ...]  # per row: the largest |change| of the output


def batch_rows(x: torch.Tensor, row: int, n_head: int = 1, seed: int = 1337) -> BatchDemo:
    """Run the GPT's own CausalSelfAttention (untrained, seeded) on a batch x (B, T, C), then on the
    same batch with row `row` replaced by other numbers, and measure how much each row's output moved:
    only the replaced row's does. Attention mixes positions within a row, never rows of a batch."""
    B, T, C = x.shape
    if not 0 <= row < B:
        raise ValueError(f"row must be between 0 and {B - 1} (got {row})")
    config = GPTConfig(vocab_size=1, block_size=T, n_layer=1, n_head=n_head, n_embd=C, dropout=0.0)
    with torch.random.fork_rng():  # seeded weights without touching the caller's random state
        torch.manual_seed(seed)
        layer = CausalSelfAttention(config).eval()
    changed = x.clone()
    changed[row] = torch.randn(T, C, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        out, _ = layer(x)  # (B, T, C)
        out_changed, _ = layer(changed)
    diff = (out_changed - out).abs().amax(dim=(1, 2))  # (B,)
    return BatchDemo(x, changed, out, out_changed, row, tuple(diff.tolist()))
