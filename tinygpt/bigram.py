"""The bigram language model: the lecture's baseline, where each character predicts the next
from a lookup table (one vocab x vocab embedding) and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch.nn as nn
from torch.nn import functional as F


@dataclass(frozen=True)
class BigramConfig:
    vocab_size: int = 65

    def __post_init__(self):
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1 (got {self.vocab_size})")

    @classmethod
    def preset(cls, name: str = "", **overrides) -> BigramConfig:
        """The bigram has one shape, whatever the preset: a table over the vocabulary."""
        return cls(**overrides)

    @classmethod
    def from_dict(cls, values: dict) -> BigramConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


class BigramLM(nn.Module):
    """logits[b, t] = table[idx[b, t]]: the next character depends only on the current one."""

    model_type = "bigram"

    def __init__(self, config: BigramConfig):
        super().__init__()
        self.config = config
        self.token_embedding_table = nn.Embedding(config.vocab_size, config.vocab_size)

    @property
    def context_size(self) -> int:
        return 1  # only the last token matters, so sampling never feeds it more

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))
        return logits, loss
