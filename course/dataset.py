"""What the dataset lesson shows about a text: counts and character frequencies, the tokenizer
playground (strict and lenient encodings side by side), the train/val split sizes and the
lecture's "when the input is ... the target is ..." examples hidden in one batch row.

Plain Python and torch; the page only lays out what these functions return.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from course.text import char_label
from tinygpt.data import CharTokenizer, TokenizerError


@dataclass(frozen=True)
class TextStats:
    """Counts for a text; `vocab` is the lecture's vocabulary (its distinct characters, sorted)."""

    n_chars: int
    n_lines: int
    n_words: int
    vocab: str
    frequencies: tuple[tuple[str, int], ...]  # (character, count), most frequent first

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


def text_stats(text: str) -> TextStats:
    """Characters, lines (as `wc -l` would count them, plus an unterminated last line), words
    (runs of non-whitespace), the vocabulary and how often each character occurs."""
    counts = Counter(text)
    n_lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    frequencies = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    vocab = "".join(sorted(counts))
    return TextStats(len(text), n_lines, len(text.split()), vocab, frequencies)


def excerpt(text: str, offset: int, length: int = 1000) -> str:
    """`length` characters of `text` from `offset` (clamped so the excerpt stays inside the text)."""
    offset = max(0, min(offset, len(text) - length))
    return text[offset : offset + length]


# ---- the tokenizer playground -----------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    """One typed character: its id (None when outside the vocabulary) and the id each lenient
    mode gives it (`replace` substitutes the replacement character's id, `drop` gives None)."""

    position: int
    char: str
    id: int | None
    replace_id: int
    drop_id: int | None

    @property
    def known(self) -> bool:
        return self.id is not None


@dataclass(frozen=True)
class Playground:
    """`text` encoded strictly (ids, or the error it raises) and with both lenient modes, each
    decoded back so the page can show what survives the round trip."""

    text: str
    rows: list[TokenRow]
    unknown: list[str]  # distinct characters outside the vocabulary, in order of appearance
    ids: list[int] | None  # None when the strict encoder raises
    error: str | None
    decoded: str | None
    replacement: str  # what unknown="replace" substitutes
    replace_ids: list[int]
    replaced: str
    drop_ids: list[int]
    dropped: str

    @property
    def round_trip_ok(self) -> bool:
        """decode(encode(text)) == text."""
        return self.decoded == self.text


def tokenizer_playground(tokenizer: CharTokenizer, text: str) -> Playground:
    """Encode `text` strictly and with both lenient modes (`unknown="replace"` and `"drop"`)."""
    try:
        ids, error = tokenizer.encode(text), None
    except TokenizerError as e:
        ids, error = None, str(e)
    sub = tokenizer.default_replacement()
    stoi = tokenizer.stoi
    rows = [TokenRow(i, ch, stoi.get(ch), stoi.get(ch, stoi[sub]), stoi.get(ch)) for i, ch in enumerate(text)]
    replace_ids = tokenizer.encode(text, unknown="replace")
    drop_ids = tokenizer.encode(text, unknown="drop")
    return Playground(
        text=text,
        rows=rows,
        unknown=tokenizer.unknown(text),
        ids=ids,
        error=error,
        decoded=None if ids is None else tokenizer.decode(ids),
        replacement=sub,
        replace_ids=replace_ids,
        replaced=tokenizer.decode(replace_ids),
        drop_ids=drop_ids,
        dropped=tokenizer.decode(drop_ids),
    )


# ---- the split and the batches ------------------------------------------------------------------


def split_sizes(n_tokens: int, train_fraction: float = 0.9) -> tuple[int, int]:
    """(train, val) token counts; the same rule as `data.split_data`."""
    n_train = int(train_fraction * n_tokens)
    return n_train, n_tokens - n_train


def min_tokens(block_size: int, train_fraction: float = 0.9) -> int:
    """The shortest text whose train and val splits both hold one chunk of block_size + 1 tokens."""
    n = block_size + 1
    while min(split_sizes(n, train_fraction)) < block_size + 1:
        n += 1
    return n


def check_length(n_tokens: int, block_size: int, train_fraction: float = 0.9) -> str | None:
    """None when batches of `block_size` can be cut from both splits, else a message saying why not."""
    need = min_tokens(block_size, train_fraction)
    if n_tokens >= need:
        return None
    n_train, n_val = split_sizes(n_tokens, train_fraction)
    return (
        f"The text is too short for block_size={block_size}: a chunk needs {block_size + 1} characters "
        f"(block_size inputs plus one more target), but the split leaves {n_train:,} for training and "
        f"{n_val:,} for validation. Choose a block size of at most {max_block_size(n_tokens, train_fraction)}, "
        f"or use a text of at least {need:,} characters."
    )


def max_block_size(n_tokens: int, train_fraction: float = 0.9) -> int:
    """The largest block size both splits of an `n_tokens` text can serve (0 if none)."""
    return max(0, min(split_sizes(n_tokens, train_fraction)) - 1)


def char_matrix(ids: torch.Tensor, tokenizer: CharTokenizer) -> list[list[str]]:
    """A (B, T) batch as nested lists of visible characters, for a table."""
    return [[char_label(tokenizer.itos[i]) for i in row] for row in ids.tolist()]


@dataclass(frozen=True)
class Example:
    """One of the block_size training examples inside a chunk: a context and the next character."""

    t: int
    context_ids: list[int]
    context: str
    target_id: int
    target: str

    def sentence(self) -> str:
        return f"when the input is {self.context_ids} the target is {self.target_id}"


def examples(x_row: torch.Tensor, y_row: torch.Tensor, tokenizer: CharTokenizer) -> list[Example]:
    """The lecture's loop over one row: for t in range(T), context x[:t+1] predicts target y[t]."""
    xs, ys = x_row.tolist(), y_row.tolist()  # (T,), (T,)
    return [
        Example(t, xs[: t + 1], tokenizer.decode(xs[: t + 1]), ys[t], tokenizer.itos[ys[t]])
        for t in range(len(xs))
    ]
