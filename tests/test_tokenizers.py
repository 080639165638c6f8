"""The tokenizers behind one protocol (tinygpt/tokenizers.py): round trips, the unknown-word token,
JSON by kind (old character JSON included), and the character split that every tokenizer shares."""

from __future__ import annotations

import json
import time

import pytest

from tinygpt.bpe import BPETokenizer
from tinygpt.data import CharTokenizer, TokenizerError, encode_splits, split_text
from tinygpt.sample import decode_stream, encode_prompt
from tinygpt.tokenizers import (
    TOKENIZERS,
    UNKNOWN_WORD,
    WordTokenizer,
    make_tokenizer,
    tokenizer_for,
    tokenizer_from_json,
)

SMALL = "the cat sat on the mat.\nThe dog sat, o'er the log!\n" * 20


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_every_kind_round_trips_its_training_text(kind):
    tok = make_tokenizer(kind, SMALL, 300 if kind == "bpe" else 40)
    ids = tok.encode(SMALL)
    assert tok.kind == kind
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == SMALL
    assert "".join(tok.itos[i] for i in ids) == SMALL  # what a stream of sampled tokens shows


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_json_round_trip_by_kind(kind):
    tok = make_tokenizer(kind, SMALL, 300 if kind == "bpe" else 40)
    doc = tok.to_json()
    assert json.loads(doc)["kind"] == kind
    again = tokenizer_from_json(doc)
    assert type(again) is type(tok) and again == tok
    assert again.encode(SMALL) == tok.encode(SMALL)


def test_old_json_without_kind_loads():
    assert tokenizer_from_json('{"chars": "abc"}') == CharTokenizer("abc")
    assert CharTokenizer.from_json('{"chars": "abc"}') == CharTokenizer("abc")
    assert BPETokenizer.from_json('{"merges": [[97, 98]]}').merges == ((97, 98),)


@pytest.mark.parametrize(
    "doc", ["nope", "[1, 2]", '{"kind": "morse"}', '{"kind": "word"}', '{"kind": "bpe", "merges": 3}']
)
def test_bad_json_is_a_tokenizer_error(doc):
    with pytest.raises(TokenizerError):
        tokenizer_from_json(doc)


def test_a_class_refuses_another_kinds_json():
    with pytest.raises(TokenizerError, match="kind 'bpe'"):
        CharTokenizer.from_json('{"kind": "bpe", "chars": "ab"}')


def test_words_keep_the_most_frequent_and_read_the_rest_as_unknown():
    tok = WordTokenizer.from_text("a a a b b c", 3)  # pieces: a x3, ' ' x5, b x2, c x1
    assert tok.itos == {0: UNKNOWN_WORD, 1: " ", 2: "a"}
    assert tok.encode("a b") == [2, 1, 0]
    assert tok.decode(tok.encode("a b")) == f"a {UNKNOWN_WORD}"
    assert tok.encode("a b", unknown="drop") == [2, 1]
    assert tok.unknown("a b c b") == ["b", "c"]
    assert tok.unknown_fraction("a bb") == 0.5


def test_words_split_on_white_space_and_punctuation_but_keep_apostrophes():
    tok = make_tokenizer("word", "O'er the hill, 'tis 42!", 100)
    assert set(tok.words) == {"O'er", " ", "the", "hill", ",", "'", "tis", "42", "!"}


def test_sizes_are_checked():
    with pytest.raises(TokenizerError, match="at least 256"):
        make_tokenizer("bpe", SMALL, 100)
    with pytest.raises(TokenizerError, match="at least 2"):
        make_tokenizer("word", SMALL, 1)
    with pytest.raises(TokenizerError, match="choose one of char, bpe, word"):
        make_tokenizer("morse", SMALL)


def test_bpe_vocab_size_is_what_was_asked(text):
    tok = make_tokenizer("bpe", text[:50_000], 300)
    assert tok.vocab_size == 300 and tok.kind == "bpe"


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_prompts_never_raise(kind):
    tok = make_tokenizer(kind, SMALL, 300 if kind == "bpe" else 40)
    assert encode_prompt(tok, "")  # an empty prompt starts somewhere
    ids = encode_prompt(tok, "the zebra ☃")
    assert ids and all(0 <= i < tok.vocab_size for i in ids)


def test_split_text_cuts_characters_and_every_tokenizer_sees_the_same_validation(text):
    train, val = split_text(text)
    assert train + val == text and len(train) == int(0.9 * len(text))
    for kind in TOKENIZERS:
        tok = tokenizer_for(kind, text[:100_000], 300 if kind == "bpe" else 500)
        splits = encode_splits(train[:20_000], val[:20_000], tok)
        if kind != "word":  # words: rare ones read as the unknown token
            assert tok.decode(splits.val.tolist()) == val[:20_000]
        assert splits.chars_per_token == pytest.approx(20_000 / len(splits.val))
    assert encode_splits(train, val, CharTokenizer.from_text(text)).chars_per_token == 1.0


def test_learned_tokenizers_learn_from_the_training_part_only():
    text = "aaaa " * 90 + "zzzz " * 10  # the last 10% holds the only z
    assert "zzzz" not in make_tokenizer("word", split_text(text)[0], 10).words
    assert tokenizer_for("word", text, 10) == make_tokenizer("word", split_text(text)[0], 10)
    assert "z" in tokenizer_for("char", text).chars  # characters: the whole text's


def test_bpe_to_512_on_the_train_split_takes_seconds(text, is_real_shakespeare):
    start = time.perf_counter()
    tok = tokenizer_for("bpe", text, 512)
    seconds = time.perf_counter() - start
    assert tok.vocab_size == 512 or not is_real_shakespeare
    assert seconds < 15  # about 1.1 s on a 2-core CPU (docs/training.md)


def test_a_stream_of_bpe_tokens_waits_for_whole_characters():
    tok = make_tokenizer("bpe", "plain ascii text", 260)
    text = "café ☃ ok"
    pieces = list(decode_stream(tok, tok.encode(text)))  # é and ☃ are several byte tokens each
    assert "".join(pieces) == text and not any("\ufffd" in p for p in pieces)
