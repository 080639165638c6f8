"""A GPT for characters: token + position embeddings, pre-LayerNorm Transformer blocks, LM head.

Based on the "Let's build GPT" lecture and nanoGPT's `model.py` (names, typed config, GPT-2 init).
Attention runs in two modes with the same weights: an explicit one that can hand back its weights
for drawing, and a fast one through `F.scaled_dot_product_attention`. A KV cache speeds up sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2
    bias: bool = False  # biases in Linear layers and LayerNorms; nanoGPT finds them unneeded
    use_flash: bool = True  # fast attention through F.scaled_dot_product_attention

    def __post_init__(self):
        problems = config_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def preset(cls, name: str, **overrides) -> GPTConfig:
        """A named starting point (see `PRESETS`), with fields replaced by `overrides`."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> GPTConfig:
        return replace(self, **changes)


PRESETS: dict[str, dict] = {
    # The lecture's final model: 10.8M parameters, made for a GPU.
    "lecture": dict(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
    # Learns visibly within a minute on a 2-core laptop CPU or Streamlit Community Cloud.
    "cpu": dict(block_size=32, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
    # The shipped pretrained model: the best this project could train on a 2-core CPU.
    "small": dict(block_size=128, n_layer=4, n_head=4, n_embd=256, dropout=0.1),
    # For tests: a forward pass takes microseconds.
    "tiny": dict(block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0),
}


def config_problems(config: GPTConfig) -> list[str]:
    """Every reason `config` cannot build a model, as plain sentences (empty when it is fine)."""
    problems = []
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1 (got {getattr(config, name)})")
    if config.n_head >= 1 and config.n_embd % config.n_head:
        problems.append(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
    if not 0.0 <= config.dropout < 1.0:
        problems.append(f"dropout must be in [0, 1) (got {config.dropout})")
    return problems


def config_from_dict(values: dict) -> GPTConfig:
    """A config from plain data (e.g. checkpoint metadata), ignoring unknown keys."""
    names = {f.name for f in fields(GPTConfig)}
    return GPTConfig(**{k: v for k, v in values.items() if k in names})


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to block_size."""

    def __init__(self, config: GPTConfig, batch_size: int, device, dtype):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0
        # each layer's (nh, block_size, hs) view of the first sequence, for append_one's speed
        self.first_k, self.first_v = self.k[:, 0].unbind(0), self.v[:, 0].unbind(0)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, nh, T, hs) after the cached ones; return all keys and values so far."""
        start, end = self.length, self.length + k.size(2)
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def append_one(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """`append` for one token at batch 1: k, v are (nh, 1, hs); returns (nh, T, hs) views."""
        end = self.length + 1
        keys, values = self.first_k[layer][:, :end], self.first_v[layer][:, :end]
        keys[:, -1:], values[:, -1:] = k, v
        return keys, values


def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """True where query i (the last t_q of t_k positions) may attend to key j."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(t_k - t_q)


def explicit_attention(q, k, v, dropout_p: float = 0.0):
    """softmax(q·kᵀ/√d + causal mask)·v, written out; returns (output, weights)."""
    t_q, t_k = q.size(-2), k.size(-2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, Tq, Tk)
    att = att.masked_fill(~causal_mask(t_q, t_k, q.device), float("-inf"))
    att = F.softmax(att, dim=-1)
    out = F.dropout(att, dropout_p) @ v  # (B, nh, Tq, Tk) x (B, nh, Tk, hs) -> (B, nh, Tq, hs)
    return out, att


def fast_attention(q, k, v, dropout_p: float = 0.0):
    """The same operation through PyTorch's fused kernel (flash / memory-efficient / CPU)."""
    t_q, t_k = q.size(-2), k.size(-2)
    if t_q == t_k:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    # Queries after a KV cache: the last t_q positions; a single query sees every key.
    mask = None if t_q == 1 else causal_mask(t_q, t_k, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention with one fused q, k, v projection."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.use_flash = config.use_flash
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0, weights_out=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, nh, T_cached + T, hs)
        p = self.dropout if self.training else 0.0
        if self.use_flash and weights_out is None:
            y = fast_attention(q, k, v, p)  # (B, nh, T, hs)
        else:
            y, att = explicit_attention(q, k, v, p)
            if weights_out is not None:
                weights_out.append(att.detach())
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The per-token feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One Transformer block: communication (attention) then computation (MLP), both pre-norm."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0, weights_out=None):
        x = x + self.attn(self.ln_1(x), cache, layer, weights_out)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """The decoder-only Transformer of the lecture. `forward(idx, targets) -> (logits, loss)`."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                # scaled init for residual projections, per GPT-2: keeps the stream's variance flat
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None, cache: KVCache | None = None, weights_out=None):
        """Logits (B, T, vocab) for idx (B, T); loss is the mean cross-entropy when targets are given.

        With `cache`, idx holds only the new tokens, placed after the cached ones.
        With `weights_out` (a list), the explicit attention weights of each layer are appended to it.
        """
        B, T = idx.size()
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than block_size {self.config.block_size}"
            )
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, weights_out)
        if cache is not None:
            cache.length += T
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))
        return logits, loss

    def new_cache(self, batch_size: int = 1) -> KVCache:
        p = self.lm_head.weight
        return KVCache(self.config, batch_size, p.device, p.dtype)

    @torch.no_grad()
    def attention_maps(self, idx) -> torch.Tensor:
        """The attention weights of every layer and head: (n_layer, B, n_head, T, T)."""
        weights: list[torch.Tensor] = []
        self.forward(idx, weights_out=weights)
        return torch.stack(weights)
