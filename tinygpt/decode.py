"""The GPT's forward pass for one new token at batch 1: sampling's hot path.

`GPT.forward(idx, cache=cache)` computes the same logits (the tests compare them), but at batch 1
each layer multiplies a single row by each weight matrix, and then a PyTorch call's fixed cost (a few
microseconds of Python and dispatch) rivals its arithmetic: for the shipped 3.2M-parameter model,
the calls around the 17 matrix-vector products took longer than the products themselves. So
`Decoder` takes the weights out of the modules once per generation, and runs the whole network for
one token in a handful of plain calls per layer, skipping what does nothing at inference (dropout,
the causal mask of a single query, module calls).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .gpt import GPT, KVCache


class LayerWeights(NamedTuple):
    """One Transformer block's parameters, as the plain calls below take them."""

    ln_1: tuple  # (weight, bias, eps) for torch.layer_norm
    c_attn: tuple  # (weight, bias) of an nn.Linear: x -> q, k, v
    attn_proj: tuple
    ln_2: tuple
    c_fc: tuple
    mlp_proj: tuple
    gelu: str  # the MLP's GELU variant ("none" or "tanh")

    @classmethod
    def of(cls, block) -> LayerWeights:
        attn, mlp = block.attn, block.mlp
        return cls(
            _norm(block.ln_1), _linear(attn.c_attn), _linear(attn.c_proj),
            _norm(block.ln_2), _linear(mlp.c_fc), _linear(mlp.c_proj), mlp.gelu.approximate,
        )  # fmt: skip


def _norm(ln: nn.LayerNorm) -> tuple:
    return ln.weight, ln.bias, ln.eps


def _linear(layer: nn.Linear) -> tuple:
    return layer.weight, layer.bias


class Decoder:
    """`decoder(token, cache)` -> the next token's logits (vocab_size,), the cache one token longer.

    Equal to `model(torch.tensor([[token]]), cache=cache)[0][0, -1]` for a model in eval mode.
    Holds references to the model's parameters (not copies), so build one per generation.
    """

    def __init__(self, model: GPT):
        if model.training:
            raise ValueError("Decoder runs the model as at inference (no dropout): call model.eval() first")
        config, t = model.config, model.transformer
        self.n_head, self.head_size = config.n_head, config.n_embd // config.n_head
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.block_size, self.shape = config.block_size, (config.n_embd,)
        self.wte, self.wpe = t.wte.weight, t.wpe.weight
        self.layers = [LayerWeights.of(block) for block in t.h]
        self.ln_f, self.lm_head = _norm(t.ln_f), model.lm_head.weight

    @torch.inference_mode()
    def __call__(self, token: int, cache: KVCache) -> torch.Tensor:
        pos = cache.length
        if pos >= self.block_size:
            raise ValueError(f"the cache is full: it holds block_size ({self.block_size}) tokens")
        x = self.wte[token] + self.wpe[pos]  # (C,): one token, no batch or time dimension
        for i, w in enumerate(self.layers):
            x = add_projection(
                x, self.attend(w, torch.layer_norm(x, self.shape, *w.ln_1), cache, i), w.attn_proj
            )
            h = F.gelu(projection(torch.layer_norm(x, self.shape, *w.ln_2), w.c_fc), approximate=w.gelu)
            x = add_projection(x, h, w.mlp_proj)
        cache.length += 1
        return torch.mv(self.lm_head, torch.layer_norm(x, self.shape, *self.ln_f))

    def attend(self, w: LayerWeights, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
        """Causal self-attention for the newest token, before the output projection: the token may
        see every cached key, so there is no mask. Returns the heads side by side, (C,)."""
        q, k, v = projection(x, w.c_attn).view(3, self.n_head, 1, self.head_size).unbind(0)
        keys, values = cache.append_one(layer, k, v)  # (nh, T, hs), the new token's last
        att = torch.bmm(q, keys.transpose(1, 2)).mul_(self.scale).softmax(-1)  # (nh, 1, T)
        return torch.bmm(att, values).view(-1)


def projection(x: torch.Tensor, weight_bias: tuple) -> torch.Tensor:
    """nn.Linear on one row: W·x (+ b)."""
    weight, bias = weight_bias
    return torch.mv(weight, x) if bias is None else torch.addmv(bias, weight, x)


def add_projection(x: torch.Tensor, y: torch.Tensor, weight_bias: tuple) -> torch.Tensor:
    """The residual step x + W·y (+ b), the add fused into the matrix-vector product."""
    weight, bias = weight_bias
    out = torch.addmv(x, weight, y)
    return out if bias is None else out.add_(bias)
