"""Byte-pair encoding: the sub-word tokenizer of GPT-2, trained on a text in a few dozen lines.

Text is split into words (GPT-2's rule, written for the standard `re` module), each word into its
UTF-8 bytes, and training merges the most frequent adjacent pair of tokens into a new token, again and
again. The 256 byte tokens come first, so any text encodes, including characters training never saw.
Follows Karpathy's minbpe `BasicTokenizer` plus the word split of its `RegexTokenizer`.
`BPETokenizer` follows the protocol of tinygpt/tokenizers.py, so a GPT can train on its tokens.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from functools import cached_property
from itertools import pairwise

from .data import UNKNOWN_MODES, TokenizerError

# GPT-2's split into words: contractions, letters, digits, other symbols, each with one leading
# space; runs of spaces stay whole except the last, which joins the next word. Merges never cross
# these boundaries, so no token spans two words.
WORD_PATTERN = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")
N_BYTES = 256

Pair = tuple[int, int]


class BPETokenizer:
    """A byte-level BPE tokenizer: ids 0-255 are bytes, id 256 + i is the i-th merge.

    `encode` text -> ids, `decode` ids -> text; `decode(encode(text)) == text` for every string.
    """

    kind = "bpe"

    def __init__(self, merges: list[Pair] | tuple[Pair, ...] = ()):
        self.merges = tuple((int(a), int(b)) for a, b in merges)
        self.ranks: dict[Pair, int] = {}
        self.vocab = {i: bytes([i]) for i in range(N_BYTES)}  # id -> the bytes it stands for
        for i, (a, b) in enumerate(self.merges):
            new = N_BYTES + i
            if a >= new or b >= new or a < 0 or b < 0:
                raise TokenizerError(f"merge {i} joins {a} and {b}, but only ids below {new} exist yet")
            self.ranks[(a, b)] = new
            self.vocab[new] = self.vocab[a] + self.vocab[b]
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return N_BYTES + len(self.merges)

    def truncated(self, n_merges: int) -> BPETokenizer:
        """The tokenizer that training would have given after its first `n_merges` merges."""
        return BPETokenizer(self.merges[: max(0, n_merges)])

    @cached_property
    def itos(self) -> dict[int, str]:
        """Each token's text; a token that ends inside a multi-byte character reads as '\ufffd'."""
        return {i: self.decode([i]) for i in self.vocab}

    def unknown(self, text: str) -> list[str]:
        """Nothing: every text is bytes, and every byte has a token."""
        return []

    def default_replacement(self) -> str:
        return ""

    def encode(self, text: str, unknown: str = "strict") -> list[int]:
        """The ids of `text`; `unknown` is accepted for the tokenizer protocol (nothing is unknown)."""
        if unknown not in UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {UNKNOWN_MODES}, not {unknown!r}")
        ids: list[int] = []
        for word in WORD_PATTERN.findall(text):
            if word not in self._cache:
                self._cache[word] = self.encode_word(word)
            ids.extend(self._cache[word])
        return ids

    def encode_word(self, word: str) -> tuple[int, ...]:
        """Apply the merges to one word, earliest-learned first, as training applied them."""
        ids = list(to_bytes(word))
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            ids = merge(ids, pair, self.ranks[pair])
        return tuple(ids)

    def decode(self, ids) -> str:
        """The text of `ids`; bytes that do not form a whole character (a cut sequence) read as '�'."""
        try:
            data = b"".join(self.vocab[int(i)] for i in ids)
        except KeyError as e:
            raise TokenizerError(
                f"token id {e.args[0]} is outside the vocabulary (size {self.vocab_size})"
            ) from e
        try:
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "merges": [list(p) for p in self.merges]})

    @classmethod
    def from_json(cls, data: str) -> BPETokenizer:
        """The tokenizer of `to_json` (documents from before "kind" was written load too)."""
        try:
            doc = json.loads(data)
            merges = [tuple(p) for p in doc["merges"]]
        except (ValueError, KeyError, TypeError) as e:
            raise TokenizerError(f"not a BPE tokenizer JSON document: {e}") from e
        if doc.get("kind", cls.kind) != cls.kind:
            raise TokenizerError(f"tokenizer JSON of kind {doc['kind']!r}, not {cls.kind!r}")
        try:
            return cls(merges)
        except (ValueError, TypeError) as e:
            raise TokenizerError(f"not a BPE tokenizer JSON document: {e}") from e

    def __eq__(self, other) -> bool:
        return isinstance(other, BPETokenizer) and other.merges == self.merges

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


def to_bytes(text: str) -> bytes:
    """UTF-8, keeping even a lone surrogate (which strict UTF-8 refuses) so that it round-trips."""
    return text.encode("utf-8", errors="surrogatepass")


def merge(ids: list[int], pair: Pair, new: int) -> list[int]:
    """`ids` with every occurrence of `pair`, read left to right, replaced by `new`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_bpe(text: str, n_merges: int) -> tuple[BPETokenizer, list[int]]:
    """Learn up to `n_merges` merges on `text`; fewer if the words run out of pairs.

    Each step merges the pair that occurs most often (overlaps counted, as minbpe counts them; ties
    go to the smallest pair, so training is deterministic). Returns the tokenizer and, for each merge,
    how many times it merged, i.e. the tokens it saved: after n merges the text is
    `len(to_bytes(text)) - sum(counts[:n])` tokens long.
    """
    if n_merges < 0:
        raise ValueError(f"n_merges must be at least 0 (got {n_merges})")
    # Each distinct word once, with how often it occurs: Shakespeare's 1.1M characters are ~25K words.
    word_counts = Counter(WORD_PATTERN.findall(text))
    words = [list(to_bytes(w)) for w in word_counts]
    freq = list(word_counts.values())
    stats: Counter[Pair] = Counter()  # pair -> occurrences in the whole text
    where: defaultdict[Pair, set[int]] = defaultdict(set)  # pair -> the words that hold it
    for w, ids in enumerate(words):
        for pair in pairwise(ids):
            stats[pair] += freq[w]
            where[pair].add(w)
    heap = [(-c, p) for p, c in stats.items()]  # the most frequent pair on top, smallest first on ties
    heapq.heapify(heap)
    merges, counts = [], []
    while heap and len(merges) < n_merges:
        c, pair = heapq.heappop(heap)
        if stats.get(pair) != -c:
            continue  # stale: the pair's count changed since it was pushed; its new count is in the heap
        new, saved, changed = N_BYTES + len(merges), 0, set()
        for w in where.pop(pair):
            saved += merge_in_word(words, w, freq[w], pair, new, stats, where, changed)
        merges.append(pair)
        counts.append(saved)
        for p in changed & stats.keys():
            heapq.heappush(heap, (-stats[p], p))
    return BPETokenizer(merges), counts


def merge_in_word(words, w, n, pair, new, stats, where, changed: set[Pair]) -> int:
    """Merge `pair` in word `w` (which occurs `n` times), keeping the pair statistics up to date and
    adding the pairs whose counts changed to `changed`. Returns the tokens saved in the whole text."""
    old = words[w]
    for p in pairwise(old):
        stats[p] -= n
        if stats[p] <= 0:
            del stats[p]
    words[w] = merge(old, pair, new)
    for p in pairwise(words[w]):
        stats[p] += n
        where[p].add(w)  # stale entries (pairs the word lost) are harmless: merging them is a no-op
    changed.update(pairwise(old), pairwise(words[w]))
    return (len(old) - len(words[w])) * n
