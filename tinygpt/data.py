"""Characters to integers and back, the train/val split, and random training batches.

Follows the lecture: the vocabulary is the sorted set of characters in the text, and a batch is
B random chunks of block_size characters with the targets shifted one place to the left:
y[t] is x[t + 1], the character that follows. Other tokenizers (tinygpt/tokenizers.py) split the
same characters, so losses of any of them convert to bits per character (`bits_per_char`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch

UNKNOWN_MODES = ("strict", "drop", "replace")


class TokenizerError(ValueError):
    """Text holds characters the vocabulary does not know, or a vocabulary is malformed."""


class CharTokenizer:
    """stoi/itos over a fixed character vocabulary; `encode` text -> ids, `decode` ids -> text."""

    kind = "char"

    def __init__(self, chars: str):
        if not chars:
            raise TokenizerError("the vocabulary is empty")
        if len(set(chars)) != len(chars):
            raise TokenizerError("the vocabulary repeats characters")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The lecture's vocabulary: every distinct character of `text`, sorted."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(ch for ch in text if ch not in self.stoi))

    def encode(self, text: str, unknown: str = "strict", replacement: str | None = None) -> list[int]:
        """Ids for `text`. Unknown characters raise (strict), are dropped, or are replaced by
        `replacement` (default: a space if the vocabulary has one, else its first character)."""
        if unknown not in UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {UNKNOWN_MODES}, not {unknown!r}")
        missing = self.unknown(text)
        if missing and unknown == "strict":
            shown = ", ".join(repr(ch) for ch in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise TokenizerError(f"characters not in the vocabulary: {shown}{more}")
        if missing and unknown == "replace":
            sub = self.default_replacement() if replacement is None else replacement
            if sub not in self.stoi:
                raise TokenizerError(f"replacement {sub!r} is not in the vocabulary")
            return [self.stoi.get(ch, self.stoi[sub]) for ch in text]
        return [self.stoi[ch] for ch in text if ch in self.stoi]

    def default_replacement(self) -> str:
        return " " if " " in self.stoi else self.chars[0]

    def decode(self, ids) -> str:
        return "".join(self.itos[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "chars": self.chars})

    @classmethod
    def from_json(cls, data: str) -> CharTokenizer:
        """The tokenizer of `to_json`; a document without "kind" (older checkpoints) is one too."""
        try:
            doc = json.loads(data)
            chars = doc["chars"]
        except (ValueError, KeyError, TypeError) as e:
            raise TokenizerError(f"not a tokenizer JSON document: {e}") from e
        if doc.get("kind", cls.kind) != cls.kind:
            raise TokenizerError(f"tokenizer JSON of kind {doc['kind']!r}, not {cls.kind!r}")
        if not isinstance(chars, str):
            raise TokenizerError("tokenizer JSON: 'chars' must be a string")
        return cls(chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


@dataclass(frozen=True)
class Splits:
    """The encoded text cut in two: the first part trains, the rest measures generalisation.
    `chars_per_token`: validation characters per validation token (1 for characters), what turns
    a loss per token into bits per character; `train_chars_per_token` the same for the training
    part (None: as validation's)."""

    train: torch.Tensor
    val: torch.Tensor
    chars_per_token: float = 1.0
    train_chars_per_token: float | None = None

    def __post_init__(self):
        if self.train_chars_per_token is None:  # frozen: set the default through object.__setattr__
            object.__setattr__(self, "train_chars_per_token", self.chars_per_token)


def split_text(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """The first `train_fraction` of the *characters* for training, the rest for validation: cut
    before tokenizing, so every tokenizer is measured on the same validation characters."""
    _check_fraction(train_fraction)
    n = int(train_fraction * len(text))
    return text[:n], text[n:]


def encode_splits(train_text: str, val_text: str, tokenizer) -> Splits:
    """Both parts encoded by `tokenizer` (any of tinygpt.tokenizers), with each part's characters
    per token."""
    train, val = encode_text(train_text, tokenizer), encode_text(val_text, tokenizer)
    return Splits(
        train,
        val,
        chars_per_token=len(val_text) / max(1, len(val)),
        train_chars_per_token=len(train_text) / max(1, len(train)),
    )


def bits_per_char(loss_nats_per_token: float, chars_per_token: float) -> float:
    """A cross-entropy in nats per token as bits per character: / ln 2 for bits, / characters per
    token for characters. The one measure that compares models with different tokenizers."""
    return loss_nats_per_token / math.log(2) / chars_per_token


def _check_fraction(train_fraction: float) -> None:
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1 (got {train_fraction})")


def split_data(data: torch.Tensor, train_fraction: float = 0.9) -> Splits:
    """The first `train_fraction` of the tokens for training, the rest for validation (for
    characters the same cut as `split_text`; for other tokenizers use `encode_splits`)."""
    _check_fraction(train_fraction)
    n = int(train_fraction * len(data))
    return Splits(train=data[:n], val=data[n:])


def encode_text(text: str, tokenizer) -> torch.Tensor:
    """The whole text as a 1-D tensor of token ids (int64)."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator=None):
    """`batch_size` random chunks of `data`: inputs x (B, T) and targets y = x shifted by one.

    Pass a seeded `torch.Generator` for reproducible batches without touching the global RNG.
    """
    if len(data) <= block_size:
        raise ValueError(f"the data ({len(data)} tokens) must be longer than block_size ({block_size})")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = ix[:, None] + torch.arange(block_size)  # (B, T)
    return data[offsets], data[offsets + 1]
