"""What the tokenizer lesson shows about byte-pair encoding: one training run on the learner's text
(every later slider position is a prefix of its merges), how a sentence splits into tokens, and the
trade-off between vocabulary size and sequence length, measured on the text itself.

Plain Python over `tinygpt.bpe`; the page lays out what these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from course.text import char_label
from tinygpt.bpe import N_BYTES, BPETokenizer, Pair, to_bytes, train_bpe

MAX_MERGES = 2000  # about 2 s of training on Tiny Shakespeare; GPT-2 learned 50,000
MAX_CHARS = 2_000_000  # a longer upload is learned and measured on its beginning, to stay quick
BLOCK_SIZE = 128  # the shipped model's context, to say how much text a context of tokens covers


@dataclass(frozen=True)
class BPETraining:
    """`max_merges` merges learned on a text, with how many tokens each saved there."""

    merges: tuple[Pair, ...]
    counts: tuple[int, ...]  # counts[i]: times merge i happened in the text (the tokens it saved)
    n_chars: int
    n_bytes: int
    n_distinct_chars: int  # the character tokenizer's vocabulary size, for comparison

    def tokenizer(self, n_merges: int) -> BPETokenizer:
        return BPETokenizer(self.merges[:n_merges])

    @property
    def lengths(self) -> tuple[int, ...]:
        """The text's length in tokens after 0, 1, ..., len(merges) merges."""
        return tuple(accumulate(self.counts, lambda n, c: n - c, initial=self.n_bytes))


def train_on(text: str, max_merges: int = MAX_MERGES) -> BPETraining:
    """Learn the merges on `text` (its first MAX_CHARS characters if it is longer)."""
    text = text[:MAX_CHARS]
    tok, counts = train_bpe(text, max_merges)
    return BPETraining(tok.merges, tuple(counts), len(text), len(to_bytes(text)), len(set(text)))


@dataclass(frozen=True)
class TradeOff:
    """The two sides of a vocabulary of `vocab_size` tokens on the training text."""

    n_merges: int
    vocab_size: int
    n_tokens: int  # the whole text's length in tokens
    chars_per_token: float
    context_chars: float  # characters a context of BLOCK_SIZE tokens covers, on average
    newest_count: int | None  # how often the newest token occurs: each new token is rarer


def trade_off(training: BPETraining, n_merges: int) -> TradeOff:
    n_tokens = training.lengths[n_merges]
    per_token = training.n_chars / max(n_tokens, 1)
    newest = training.counts[n_merges - 1] if n_merges else None
    return TradeOff(n_merges, N_BYTES + n_merges, n_tokens, per_token, BLOCK_SIZE * per_token, newest)


def token_text(tok: BPETokenizer, token: int) -> str:
    """A token's bytes made readable: ␣ for spaces, ⏎ for newlines, \\xNN for part of a character."""
    text = tok.vocab[token].decode("utf-8", errors="backslashreplace")
    return "".join(char_label(ch) for ch in text)


@dataclass(frozen=True)
class Piece:
    """One token of a split sentence."""

    id: int
    text: str  # as token_text shows it


def split_sentence(tok: BPETokenizer, sentence: str) -> list[Piece]:
    return [Piece(i, token_text(tok, i)) for i in tok.encode(sentence)]


@dataclass(frozen=True)
class MergeRow:
    rank: int
    left: str
    right: str
    token: str
    id: int
    count: int


def merge_rows(training: BPETraining, n_merges: int) -> list[MergeRow]:
    """The first `n_merges` merges: which two tokens joined into which, and how often it happened."""
    tok = training.tokenizer(n_merges)
    return [
        MergeRow(i + 1, token_text(tok, a), token_text(tok, b), token_text(tok, N_BYTES + i), N_BYTES + i, c)
        for i, ((a, b), c) in enumerate(zip(tok.merges, training.counts, strict=False))
    ]
