"""Byte-pair encoding (tinygpt/bpe.py): the textbook example, round trips for any text (characters
never seen in training included), the word split, the trade-off numbers, and training on the dataset."""

from __future__ import annotations

import random

import pytest

from tinygpt.bpe import WORD_PATTERN, BPETokenizer, merge, to_bytes, train_bpe

# Wikipedia's example: aaabdaaabac -> ZabdZabac -> ZYdZYac -> XdXac
WIKI = "aaabdaaabac"


def random_text(rng: random.Random, n: int) -> str:
    """n code points from everywhere: ASCII, accents, CJK, emoji, combining marks, controls, surrogates."""
    ranges = [(0, 127), (128, 0x2FF), (0x300, 0x36F), (0x4E00, 0x4E80), (0x1F600, 0x1F64F), (0xD800, 0xDFFF)]
    chars = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


@pytest.fixture(scope="module")
def shakespeare_bpe(text):
    return train_bpe(text[:200_000], 300)


def test_the_textbook_example():
    tok, counts = train_bpe(WIKI, 3)
    a, b = ord("a"), ord("b")
    assert tok.merges == ((a, a), (a, b), (256, 257))  # "aa", then "ab" (tied with "Xa": smaller pair wins)
    assert counts == [2, 2, 2]
    assert tok.encode(WIKI) == [258, ord("d"), 258, a, ord("c")]
    assert tok.vocab[258] == b"aaab"
    assert tok.vocab_size == 259
    assert tok.decode(tok.encode(WIKI)) == WIKI


def test_merge_reads_left_to_right_without_overlaps():
    assert merge([1, 1, 1, 2], (1, 1), 9) == [9, 1, 2]
    assert merge([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge([], (1, 1), 9) == []


def test_training_stops_when_pairs_run_out():
    tok, counts = train_bpe("ab ab", 50)
    assert len(tok.merges) == len(counts) < 50
    assert train_bpe("", 10)[0].merges == ()
    with pytest.raises(ValueError, match="at least 0"):
        train_bpe("abc", -1)


def test_word_split_covers_every_character():
    rng = random.Random(0)
    for _ in range(50):
        s = random_text(rng, rng.randint(0, 60))
        assert "".join(WORD_PATTERN.findall(s)) == s
    assert WORD_PATTERN.findall("Hi there,  you're 42!\n") == [
        "Hi",
        " there",
        ",",
        " ",
        " you",
        "'re",
        " 42",
        "!",
        "\n",
    ]


def test_round_trip_of_unseen_text(shakespeare_bpe):
    """Characters training never saw (Greek, CJK, emoji, controls, even lone surrogates) go through bytes."""
    tok, _ = shakespeare_bpe
    rng = random.Random(1)
    samples = ["", "ROMEO: wherefore art thou?", "naïve café — 東京 🙂\t\r\n", "\ud800 lone", "\x00\x7f"]
    samples += [random_text(rng, rng.randint(1, 80)) for _ in range(200)]
    for s in samples:
        ids = tok.encode(s)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == s


def test_merges_shorten_the_training_text_by_their_counts(text):
    """The trade-off the lesson draws: after n merges the text is bytes - sum(counts[:n]) tokens long,
    and encoding (earliest merge first) reproduces exactly what training did."""
    sample = text[:50_000] + "  \n\n\n   aaaa"  # runs of one character, where pairs overlap
    tok, counts = train_bpe(sample, 200)
    n_bytes = len(to_bytes(sample))
    for n in (0, 1, 10, 57, 200):
        assert len(tok.truncated(n).encode(sample)) == n_bytes - sum(counts[:n])
    assert all(c > 0 for c in counts)


def test_truncated_is_the_shorter_training(text):
    long_tok, long_counts = train_bpe(text[:30_000], 120)
    short_tok, short_counts = train_bpe(text[:30_000], 40)
    assert long_tok.truncated(40) == short_tok
    assert long_counts[:40] == short_counts
    assert long_tok.truncated(-5).merges == ()


def test_trained_on_the_dataset(shakespeare_bpe, is_real_shakespeare):
    tok, counts = shakespeare_bpe
    assert tok.vocab_size == 256 + 300
    words = {tok.vocab[i] for i in range(256, tok.vocab_size)}
    assert b" the" in words
    if is_real_shakespeare:
        assert tok.vocab[256] == b" t"  # the most frequent pair of Tiny Shakespeare
    sentence = "First Citizen: Before we proceed any further, hear me speak."
    assert len(tok.encode(sentence)) < len(sentence) / 2


def test_decode_errors_and_cut_sequences():
    tok = BPETokenizer()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([256])
    assert tok.decode(tok.encode("é")[:1]) == "\ufffd"  # half a character reads as the replacement mark


def test_json_round_trip_and_bad_merges():
    tok, _ = train_bpe(WIKI, 3)
    assert BPETokenizer.from_json(tok.to_json()) == tok
    with pytest.raises(ValueError, match="not a BPE"):
        BPETokenizer.from_json("{}")
    with pytest.raises(ValueError, match="only ids below 256"):
        BPETokenizer([(1, 300)])
