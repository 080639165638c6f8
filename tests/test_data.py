"""The tokenizer, the train/val split and get_batch."""

import pytest
import torch

from tinygpt.data import CharTokenizer, TokenizerError, encode_text, get_batch, split_data


def test_vocabulary_is_sorted_unique_characters(text):
    tok = CharTokenizer.from_text(text)
    assert tok.chars == "".join(sorted(set(text)))
    assert tok.vocab_size == len(set(text))


def test_round_trip(text):
    tok = CharTokenizer.from_text(text)
    sample = text[1000:3000]
    ids = tok.encode(sample)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == sample


def test_json_round_trip():
    tok = CharTokenizer.from_text("hello, world\n")
    again = CharTokenizer.from_json(tok.to_json())
    assert again == tok and again.stoi == tok.stoi and again.itos == tok.itos


@pytest.mark.parametrize("doc", ["not json", '{"x": 1}', '{"chars": 5}', '{"chars": "aa"}', '{"chars": ""}'])
def test_bad_json_is_a_tokenizer_error(doc):
    with pytest.raises(TokenizerError):
        CharTokenizer.from_json(doc)


def test_unknown_characters_are_named():
    tok = CharTokenizer.from_text("abc ")
    with pytest.raises(TokenizerError, match=r"'z'.*'é'|'é'.*'z'"):
        tok.encode("abz é")
    assert tok.unknown("abz é z") == ["z", "é"]


def test_lenient_modes():
    tok = CharTokenizer.from_text("abc ")
    assert tok.decode(tok.encode("abzc", unknown="drop")) == "abc"
    assert tok.decode(tok.encode("abzc", unknown="replace")) == "ab c"
    assert tok.decode(tok.encode("abzc", unknown="replace", replacement="a")) == "abac"
    with pytest.raises(TokenizerError):
        tok.encode("z", unknown="replace", replacement="q")
    with pytest.raises(ValueError):
        tok.encode("a", unknown="ignore")


def test_split_is_ninety_ten_and_ordered():
    data = torch.arange(1000)
    splits = split_data(data)
    assert len(splits.train) == 900 and len(splits.val) == 100
    assert torch.equal(torch.cat([splits.train, splits.val]), data)
    assert len(split_data(data, 0.8).train) == 800
    with pytest.raises(ValueError):
        split_data(data, 1.0)


def test_batch_shapes_and_one_step_shift(text):
    tok = CharTokenizer.from_text(text)
    data = encode_text(text[:10_000], tok)
    x, y = get_batch(data, block_size=16, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 16)
    assert x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])
    # every row is a real chunk of the data, and y continues it by one token
    for row_x, row_y in zip(x, y, strict=True):
        start = next(i for i in range(len(data) - 16) if torch.equal(data[i : i + 16], row_x))
        assert torch.equal(data[start + 1 : start + 17], row_y)


def test_batches_are_reproducible_and_leave_global_rng_alone():
    data = torch.arange(500)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = get_batch(data, 8, 4, torch.Generator().manual_seed(7))
    b = get_batch(data, 8, 4, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(torch.rand(1), before)


def test_data_must_be_longer_than_block():
    with pytest.raises(ValueError, match="longer than block_size"):
        get_batch(torch.arange(8), 8, 2)
