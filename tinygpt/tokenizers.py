"""The tokenizers a GPT can train on, behind one protocol: characters (the lecture's), byte-pair
encoding (tinygpt/bpe.py, GPT-2's kind) and whole words with an unknown-word token.

Every tokenizer has `kind`, `vocab_size`, `encode(text) -> ids`, `decode(ids) -> text`, `itos`
(each token's text) and `to_json()`, whose "kind" key tells `tokenizer_from_json` which class to
rebuild (a document without one is a character vocabulary, as older checkpoints store it).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

from .bpe import N_BYTES, BPETokenizer, train_bpe
from .data import UNKNOWN_MODES, CharTokenizer, TokenizerError, split_text

TOKENIZERS = ("char", "bpe", "word")
# The vocabulary a tokenizer gets when none is asked for (characters have the text's own).
DEFAULT_VOCAB_SIZE = {"bpe": 512, "word": 2048}
# Words (letters, with inner apostrophes: "o'er", "I'll"), numbers, runs of white space, and any
# other single character. The pieces cover the text exactly, so decode(encode(t)) == t when every
# piece is in the vocabulary.
WORD_PIECES = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|\s+|\S")
UNKNOWN_WORD = "<unk>"


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    @property
    def itos(self) -> Mapping[int, str]: ...

    def encode(self, text: str, unknown: str = "strict") -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def unknown(self, text: str) -> list[str]: ...

    def default_replacement(self) -> str: ...

    def to_json(self) -> str: ...


class WordTokenizer:
    """Whole words, and the white space and punctuation between them, as tokens: the `vocab_size`
    - 1 most frequent pieces of the training text, plus `UNKNOWN_WORD` (id 0) for every other one.

    Rare words all read as the one unknown token, so a model that predicts it well predicts their
    letters for free: bits per character of a word model are optimistic by that much
    (`unknown_fraction` tells how many characters hide behind it)."""

    kind = "word"

    def __init__(self, words: Iterable[str]):
        self.words = tuple(words)
        if UNKNOWN_WORD in self.words or len(set(self.words)) != len(self.words):
            raise TokenizerError("the word vocabulary repeats a word (or holds the unknown token)")
        self.itos = dict(enumerate((UNKNOWN_WORD, *self.words)))
        self.stoi = {w: i for i, w in self.itos.items()}

    @classmethod
    def from_text(cls, text: str, vocab_size: int) -> WordTokenizer:
        """The `vocab_size - 1` most frequent pieces of `text` (ties: alphabetical), most frequent first."""
        if vocab_size < 2:
            raise TokenizerError(f"a word vocabulary needs at least 2 tokens (got {vocab_size})")
        counts = Counter(WORD_PIECES.findall(text))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))
        return cls(ranked[: vocab_size - 1])

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def hidden(self, text: str) -> list[str]:
        """Every piece of `text` that reads as the unknown token, in order, repeats included."""
        return [w for w in WORD_PIECES.findall(text) if w not in self.stoi]

    def unknown(self, text: str) -> list[str]:
        """The distinct pieces of `text` that will read as the unknown token, in order."""
        return list(dict.fromkeys(self.hidden(text)))

    def unknown_fraction(self, text: str) -> float:
        """The share of `text`'s characters that lie in pieces read as the unknown token."""
        return sum(map(len, self.hidden(text))) / max(1, len(text))

    def default_replacement(self) -> str:
        return UNKNOWN_WORD

    def encode(self, text: str, unknown: str = "strict") -> list[int]:
        """Ids for `text`; a piece outside the vocabulary is the unknown token (id 0) in every mode
        but "drop", which leaves it out. Nothing raises: the unknown token is this vocabulary's answer."""
        if unknown not in UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {UNKNOWN_MODES}, not {unknown!r}")
        ids = [self.stoi.get(w, 0) for w in WORD_PIECES.findall(text)]
        return [i for i in ids if i] if unknown == "drop" else ids

    def decode(self, ids) -> str:
        try:
            return "".join(self.itos[int(i)] for i in ids)
        except KeyError as e:
            raise TokenizerError(
                f"token id {e.args[0]} is outside the vocabulary (size {self.vocab_size})"
            ) from e

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "words": list(self.words)})

    @classmethod
    def from_json(cls, data: str) -> WordTokenizer:
        try:
            words = json.loads(data)["words"]
        except (ValueError, KeyError, TypeError) as e:
            raise TokenizerError(f"not a word tokenizer JSON document: {e}") from e
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise TokenizerError("word tokenizer JSON: 'words' must be a list of non-empty strings")
        return cls(words)

    def __eq__(self, other) -> bool:
        return isinstance(other, WordTokenizer) and other.words == self.words

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"


CLASSES = {"char": CharTokenizer, "bpe": BPETokenizer, "word": WordTokenizer}


def make_tokenizer(kind: str, text: str, vocab_size: int | None = None) -> Tokenizer:
    """A tokenizer learned from `text`. char: its sorted set of characters (`vocab_size` is
    ignored); bpe: `vocab_size` - 256 merges (`tinygpt.bpe.train_bpe`; the whole train split of
    Tiny Shakespeare to 512 takes about a second); word: the `vocab_size` - 1 most frequent words
    and separators plus the unknown token. Without `vocab_size`, DEFAULT_VOCAB_SIZE[kind]."""
    if kind not in TOKENIZERS:
        raise TokenizerError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}")
    if kind == "char":
        return CharTokenizer.from_text(text)
    size = DEFAULT_VOCAB_SIZE[kind] if vocab_size is None else vocab_size
    if kind == "word":
        return WordTokenizer.from_text(text, size)
    if size < N_BYTES:
        raise TokenizerError(
            f"a BPE vocabulary holds the {N_BYTES} bytes, so at least {N_BYTES} (got {size})"
        )
    return train_bpe(text, size - N_BYTES)[0]


def tokenizer_for(
    kind: str, text: str, vocab_size: int | None = None, train_fraction: float = 0.9
) -> Tokenizer:
    """The tokenizer a run on `text` trains with: BPE merges and words are learned from the
    training part only (`split_text`), so validation is text the tokenizer never saw; characters
    come from the whole text (the lecture's vocabulary), since a character only in the validation
    part still needs an id and a set of characters teaches a model nothing."""
    source = text if kind == "char" else split_text(text, train_fraction)[0]
    return make_tokenizer(kind, source, vocab_size)


def tokenizer_from_json(data: str) -> Tokenizer:
    """The tokenizer `to_json` wrote, by its "kind"; a document without one is a CharTokenizer."""
    try:
        doc = json.loads(data)
        kind = doc.get("kind", "char") if isinstance(doc, dict) else None
    except ValueError as e:
        raise TokenizerError(f"not a tokenizer JSON document: {e}") from e
    if kind not in CLASSES:
        raise TokenizerError(f"unknown tokenizer kind {kind!r}; this TinyGPT reads {', '.join(TOKENIZERS)}")
    return CLASSES[kind].from_json(data)
