"""The numbers and tables the dataset lesson shows (course.dataset)."""

import pytest
import torch

from course.dataset import (
    char_matrix,
    check_length,
    examples,
    excerpt,
    max_block_size,
    min_tokens,
    split_sizes,
    text_stats,
    tokenizer_playground,
)
from tinygpt import CharTokenizer, encode_text, get_batch, split_data


def test_text_stats_counts_a_small_text():
    stats = text_stats("ab a\nb b\n\nc")
    assert (stats.n_chars, stats.n_lines, stats.n_words) == (11, 4, 5)
    assert stats.vocab == "\n abc" and stats.vocab_size == 5
    # most frequent first; ties in vocabulary order
    assert stats.frequencies == (("\n", 3), ("b", 3), (" ", 2), ("a", 2), ("c", 1))


def test_text_stats_lines_like_wc():
    assert text_stats("one\ntwo\n").n_lines == 2
    assert text_stats("one\ntwo").n_lines == 2  # an unterminated last line still counts
    assert text_stats("x").n_lines == 1


def test_text_stats_on_the_dataset(text, is_real_shakespeare):
    stats = text_stats(text)
    assert stats.vocab == CharTokenizer.from_text(text).chars
    assert sum(n for _, n in stats.frequencies) == stats.n_chars == len(text)
    counts = [n for _, n in stats.frequencies]
    assert counts == sorted(counts, reverse=True)
    assert stats.n_words == len(text.split())
    if is_real_shakespeare:  # the numbers the lecture prints
        assert (stats.n_chars, stats.vocab_size, stats.n_lines) == (1_115_394, 65, 40_000)
        assert stats.frequencies[0] == (" ", 169_892)


def test_excerpt_clamps_to_the_text():
    text = "".join(chr(ord("a") + i % 26) for i in range(100))
    assert excerpt(text, 10, 5) == text[10:15]
    assert excerpt(text, 99, 5) == text[95:]
    assert excerpt(text, -3, 5) == text[:5]
    assert excerpt("short", 0, 1000) == "short"


def test_playground_known_text_round_trips():
    tok = CharTokenizer.from_text("hello there, world")
    pg = tokenizer_playground(tok, "hello there")
    assert pg.error is None and pg.unknown == []
    assert pg.ids == tok.encode("hello there") == pg.replace_ids == pg.drop_ids
    assert pg.decoded == "hello there" and pg.round_trip_ok
    assert [r.char for r in pg.rows] == list("hello there")
    assert all(r.known and r.id == r.replace_id == r.drop_id for r in pg.rows)


def test_playground_unknown_characters_in_lenient_modes():
    tok = CharTokenizer.from_text("abc ")
    pg = tokenizer_playground(tok, "a€b€z")
    assert pg.ids is None and pg.decoded is None and not pg.round_trip_ok
    assert "'€'" in pg.error and "'z'" in pg.error
    assert pg.unknown == ["€", "z"]
    assert pg.replacement == " "
    assert pg.replaced == "a b  " and pg.replace_ids == tok.encode("a b  ")
    assert pg.dropped == "ab" and pg.drop_ids == tok.encode("ab")
    unknown_rows = [r for r in pg.rows if not r.known]
    assert [r.position for r in unknown_rows] == [1, 3, 4]
    assert all(r.id is None and r.drop_id is None and r.replace_id == tok.stoi[" "] for r in unknown_rows)


def test_playground_empty_text():
    pg = tokenizer_playground(CharTokenizer("ab"), "")
    assert pg.rows == [] and pg.ids == [] and pg.round_trip_ok


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 99, 100, 12_345, 1_115_394])
def test_split_sizes_match_split_data(n):
    splits = split_data(torch.zeros(n, dtype=torch.long))
    assert split_sizes(n) == (len(splits.train), len(splits.val))


@pytest.mark.parametrize("block_size", [1, 8, 32, 64, 256])
def test_min_tokens_is_the_exact_threshold(block_size):
    n = min_tokens(block_size)
    assert check_length(n, block_size) is None
    assert check_length(n - 1, block_size) is not None
    # at the threshold, both splits really can serve a batch
    splits = split_data(torch.arange(n))
    for part in (splits.train, splits.val):
        x, _ = get_batch(part, block_size, 2)
        assert x.shape == (2, block_size)
    assert max_block_size(n) >= block_size and max_block_size(n - 1) < block_size


def test_check_length_message_says_what_to_do():
    message = check_length(50, 8)
    assert "block_size=8" in message and "45 for training and 5 for validation" in message
    assert f"at least {min_tokens(8):,} characters" in message
    assert f"at most {max_block_size(50)}" in message and max_block_size(50) == 4


def test_batch_matrices_and_the_lecture_examples(text):
    tok = CharTokenizer.from_text(text)
    data = encode_text(text, tok)
    x, y = get_batch(split_data(data).train, 8, 4, generator=torch.Generator().manual_seed(1337))
    chars = char_matrix(x, tok)
    assert len(chars) == 4 and all(len(row) == 8 for row in chars)
    assert "".join(chars[0]).replace("␣", " ").replace("⏎", "\n") == tok.decode(x[0])
    rows = examples(x[0], y[0], tok)
    assert len(rows) == 8  # one chunk of block_size characters holds block_size examples
    for t, e in enumerate(rows):
        assert e.t == t and e.context_ids == x[0, : t + 1].tolist() and e.target_id == y[0, t].item()
        assert e.context == tok.decode(x[0, : t + 1]) and e.target == tok.itos[e.target_id]
    assert rows[-1].context_ids[1:] + [rows[-1].target_id] == y[0].tolist()  # y is x shifted by one
    assert rows[0].sentence() == f"when the input is [{x[0, 0].item()}] the target is {y[0, 0].item()}"
