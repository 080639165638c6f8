"""The BPE section's numbers (course/subwords.py), and the section itself (lessons/bpe_section.py)
under AppTest, run by a small script that calls it as lesson 1 does."""

from __future__ import annotations

import pytest
from conftest import plotly_spec
from streamlit.testing.v1 import AppTest

from course import subwords
from course.figures import subwords as figures
from tinygpt.bpe import BPETokenizer, train_bpe


@pytest.fixture(scope="module")
def training(text):
    return subwords.train_on(text[:100_000], max_merges=150)


def test_lengths_and_trade_off(training, text):
    sample = text[:100_000]
    assert training.lengths[0] == training.n_bytes == len(sample.encode())
    assert len(training.lengths) == len(training.merges) + 1 == 151
    for n in (0, 40, 150):
        assert training.lengths[n] == len(training.tokenizer(n).encode(sample))
    zero, some = subwords.trade_off(training, 0), subwords.trade_off(training, 150)
    assert (zero.vocab_size, zero.newest_count) == (256, None)
    assert some.vocab_size == 406 and some.newest_count == training.counts[-1]
    assert some.n_tokens < zero.n_tokens and some.chars_per_token > 1.5
    assert some.context_chars == pytest.approx(subwords.BLOCK_SIZE * some.chars_per_token)
    assert training.n_distinct_chars == len(set(sample))


def test_long_texts_are_learned_on_their_beginning(monkeypatch):
    monkeypatch.setattr(subwords, "MAX_CHARS", 10)
    assert subwords.train_on("abcabcabcabcabcabc", 5).n_chars == 10


def test_pieces_and_merge_rows(training):
    tok = training.tokenizer(150)
    pieces = subwords.split_sentence(tok, "the king\né")
    assert b"".join(tok.vocab[p.id] for p in pieces) == "the king\né".encode()
    assert "⏎" in "".join(p.text for p in pieces)  # a newline is drawn, not printed
    assert subwords.token_text(BPETokenizer(), "é".encode()[0]) == "\\xc3"  # half a character
    rows = subwords.merge_rows(training, 3)
    first = rows[0]
    assert (first.rank, first.id, first.count) == (1, 256, training.counts[0])
    assert first.left + first.right == first.token


def test_figures_draw_the_numbers(training):
    now = subwords.trade_off(training, 20)
    length = figures.length_figure(training, now)
    assert list(length.data[0].y) == list(training.lengths)
    assert length.data[2].x == (276,) and length.data[2].y == (training.lengths[20],)
    rarity = figures.rarity_figure(training, subwords.trade_off(training, 0))
    assert len(rarity.data) == 1  # no merge yet: nothing to mark
    html = figures.tokens_html(subwords.split_sentence(training.tokenizer(20), "<b>"))
    assert "&lt;" in html and "<b>" not in html  # the sentence is text, not markup


# ---- the components under AppTest ----------------------------------------------------------------


def _bpe_script():
    from lessons import ui
    from lessons.bpe_section import bpe_section

    bpe_section(ui.current_text()[1])


def test_bpe_section(text):
    at = AppTest.from_function(_bpe_script, default_timeout=120).run()
    assert not at.exception
    values = lambda: [m.value for m in at.metric]  # noqa: E731
    tok, counts = train_bpe(text, 500)
    assert values()[:2] == ["756 tokens", f"{len(text.encode()) - sum(counts):,}"]
    assert "True" in at.caption[-1].value  # the round trip
    at.slider(key="bpe_merges").set_value(0).run()
    assert values()[:3] == ["256 tokens", f"{len(text):,}", "1.00"]
    assert plotly_spec(at, "bpe_length")["data"][2]["x"] == [256]
    at.text_input(key="bpe_sentence").set_value("naïve ж 🙂").run()
    assert not at.exception
    assert "9 characters → **14 tokens**" in at.caption[-1].value  # 0 merges: one token per byte
    at.text_input(key="bpe_sentence").set_value("").run()
    assert "Type a sentence" in at.caption[-1].value


def _short_text_script():
    from lessons.bpe_section import bpe_section

    bpe_section("a!")


def test_bpe_section_on_a_text_too_short_to_merge():
    at = AppTest.from_function(_short_text_script, default_timeout=60).run()
    assert not at.exception
    assert "too short" in at.info[0].value and not at.slider
