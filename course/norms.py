"""LayerNorm written out the way the lecture writes it, and BatchNorm beside it for contrast.

The lecture turns makemore's BatchNorm1d into a LayerNorm by normalising each row (one token's
channels) instead of each column (one channel over the batch), then applying a learned gain and bias.
The model itself runs `nn.LayerNorm`; `tests/test_norms.py` checks that this function gives its numbers.
"""

from __future__ import annotations

import torch
from torch import nn


def layer_norm(x: torch.Tensor, gain=None, bias=None, eps: float = 1e-5) -> torch.Tensor:
    """Each row of x (..., C) shifted to mean 0 and scaled to variance 1 over its C channels, then
    times `gain` (C,) plus `bias` (C,) where given. The variance divides by C, as nn.LayerNorm's does
    (the lecture's LayerNorm1d calls x.var(), which divides by C - 1)."""
    mean = x.mean(-1, keepdim=True)  # (..., 1): one mean per row
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # (..., 1): one variance per row
    out = (x - mean) / torch.sqrt(var + eps)  # (..., C)
    if gain is not None:
        out = out * gain  # (..., C) * (C,): one learned gain per channel
    if bias is not None:
        out = out + bias
    return out


def layer_norm_like(ln: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`layer_norm` with the gain, bias and eps of the model's own `ln` (nn.LayerNorm)."""
    return layer_norm(x, ln.weight, ln.bias, ln.eps)


def batch_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each column of x (N, C) to mean 0 and variance 1 over its N rows: BatchNorm's statistics in
    training mode, without gain and bias. A token's result depends on the other rows of the batch."""
    mean = x.mean(0, keepdim=True)  # (1, C): one mean per channel
    var = ((x - mean) ** 2).mean(0, keepdim=True)  # (1, C)
    return (x - mean) / torch.sqrt(var + eps)  # (N, C)


def spreads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard deviation of each row (N,) and of each column (C,) of x (N, C)."""
    return x.std(1, unbiased=False), x.std(0, unbiased=False)
