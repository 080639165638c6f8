"""Lesson 1 (lessons/1_dataset.py) under AppTest: every widget changes what is shown, uploads good
and bad, and the offline and first-download paths of Tiny Shakespeare."""

import functools
import http.server
import socket
import threading

import pytest
import torch
from conftest import app_test, decode_array, plotly_spec

import course.dataset
from course.dataset import excerpt, min_tokens, text_stats
from course.text import char_label
from tinygpt import CharTokenizer, corpus, encode_text, get_batch, split_data

PAGE = "lessons/1_dataset.py"


@pytest.fixture(scope="module")
def tok(text) -> CharTokenizer:
    return CharTokenizer.from_text(text)


@pytest.fixture
def at():
    return app_test(PAGE).run()


def frame(at, column: str):
    """The first dataframe on the page with a column named `column`."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def as_code(s: str) -> str:
    """`s` as st.code keeps it: one leading and one trailing newline removed."""
    return s.removeprefix("\n").removesuffix("\n")


def batch_frames(at):
    """x ids, y ids, x chars, y chars: the four (B, T) matrices, in the order the page draws them."""
    frames = [df.value for df in at.dataframe if list(df.value.columns) == list(range(df.value.shape[1]))]
    assert len(frames) == 4
    return frames


def test_renders_shakespeare_by_default(at, text, is_real_shakespeare):
    assert not at.exception
    stats = text_stats(text)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["characters"] == f"{len(text):,}"
    assert metrics["lines"] == f"{stats.n_lines:,}" and metrics["words"] == f"{stats.n_words:,}"
    assert metrics["vocabulary size"] == str(stats.vocab_size)
    assert at.code[0].value == " ".join(char_label(c) for c in stats.vocab)
    assert at.session_state["dataset_name"] == "Tiny Shakespeare"
    assert at.session_state["dataset_text"] == text
    if is_real_shakespeare:  # the lecture's first batch (seed 1337, B=4, T=8)
        assert batch_frames(at)[0].iloc[0].tolist() == [24, 43, 58, 5, 57, 1, 46, 43]


def test_frequency_chart_comes_from_the_text(at, text):
    trace = plotly_spec(at, "dataset_freq")["data"][0]
    counts = decode_array(trace["y"]).tolist()
    freq = text_stats(text).frequencies
    assert counts == [n for _, n in freq]
    assert list(trace["x"]) == [char_label(c) for c, _ in freq]


def test_offset_slider_moves_the_excerpt(at, text):
    assert any(c.value == as_code(excerpt(text, 0)) for c in at.code)
    at.slider(key="dataset_offset").set_value(54_321).run()
    assert not at.exception
    assert any(c.value == as_code(text[54_321:55_321]) for c in at.code)
    assert "Characters 54,321 to 55,321" in at.caption[0].value


def test_typing_fills_the_token_table(at, tok):
    at.text_input(key="dataset_typed").input("First Citizen").run()
    table = frame(at, "character")
    assert table["character"].tolist() == [char_label(c) for c in "First Citizen"]
    assert table["id"].tolist() == tok.encode("First Citizen")
    assert table["in vocabulary"].all()
    assert any("Round trip" in s.value for s in at.success)
    assert any(f"`{tok.encode('First Citizen')}`" in m.value for m in at.markdown)


def test_unknown_characters_show_both_lenient_modes(at, tok):
    assert "€" not in tok.stoi
    at.text_input(key="dataset_typed").input("a€b").run()
    assert not at.exception and not at.success
    table = frame(at, "character")
    assert table["in vocabulary"].tolist() == [True, False, True]
    assert table["id"].isna().tolist() == [False, True, False]
    assert table["unknown='replace' (␣)"].tolist() == tok.encode("a b")
    assert "'€'" in at.warning[0].value
    shown = " ".join(m.value for m in at.markdown)
    assert f"`{tok.encode('a b')}`" in shown and "decodes to `'a b'`" in shown
    assert f"`{tok.encode('ab')}`" in shown and "decodes to `'ab'`" in shown


def test_split_chart_is_to_scale(at, text):
    n = len(text)
    traces = plotly_spec(at, "dataset_split")["data"]
    widths = [decode_array(t["x"]).tolist()[0] for t in traces]
    assert widths == [int(0.9 * n), n - int(0.9 * n)]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["train tokens"] == f"{widths[0]:,}" and metrics["val tokens"] == f"{widths[1]:,}"


def test_batch_sliders_and_seed(at, text, tok):
    train = split_data(encode_text(text, tok)).train
    at.slider(key="dataset_block_size").set_value(12).run()
    at.slider(key="dataset_batch_size").set_value(3).run()
    at.number_input(key="dataset_seed").set_value(7).run()
    assert not at.exception
    x_ids, y_ids, x_chars, y_chars = batch_frames(at)
    x, y = get_batch(train, 12, 3, generator=torch.Generator().manual_seed(7))
    assert x_ids.values.tolist() == x.tolist() and y_ids.values.tolist() == y.tolist()
    assert x_chars.iloc[2].tolist() == [char_label(tok.itos[i]) for i in x[2].tolist()]
    assert y_chars.shape == (3, 12)
    assert "(3, 12)" in at.caption[-1].value

    at.slider(key="dataset_row").set_value(2).run()
    table = frame(at, "when the input is")
    assert len(table) == 12
    assert table["when the input is"].iloc[-1] == str(x[2].tolist())
    assert table["the target is"].tolist() == y[2].tolist()


def test_batch_size_one_has_no_row_slider(at):
    at.slider(key="dataset_batch_size").set_value(1).run()
    assert not at.exception
    assert "dataset_row" not in [s.key for s in at.slider]
    assert len(frame(at, "when the input is")) == 8


# ---- uploads -------------------------------------------------------------------------------------


def upload(at, name: str, data: bytes):
    at.radio(key="dataset_source").set_value("Your own .txt file").run()
    assert at.info and not at.exception  # asks for a file first
    at.file_uploader[0].upload(name, data, "text/plain")
    return at.run()


def test_upload_a_good_file(at):
    text = "To be, or not to be, that is the question:\n" * 20
    upload(at, "hamlet.txt", text.encode())
    assert not at.exception and not at.error
    assert at.session_state["dataset_name"] == "hamlet.txt"
    assert at.session_state["dataset_text"] == text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["characters"] == f"{len(text):,}" and metrics["lines"] == "20"
    assert metrics["vocabulary size"] == str(len(set(text)))
    assert "**hamlet.txt**" in " ".join(m.value for m in at.markdown)
    assert "dataset_offset" not in [s.key for s in at.slider]  # the whole text fits in the excerpt


@pytest.mark.parametrize(
    "data, message",
    [
        ("naïve".encode("latin-1"), "is not UTF-8 text"),
        (b"", "is empty"),
        (b"  \n\n ", "is empty"),
        (b"abc\x00def", "looks binary"),
        (b"a" * (corpus.MAX_UPLOAD_BYTES + 1), "the limit is 20 MB"),
    ],
)
def test_upload_a_bad_file(at, data, message):
    upload(at, "bad.txt", data)
    assert not at.exception
    assert message in at.error[0].value and "bad.txt" in at.error[0].value
    assert not at.metric  # the page stops at the message
    assert at.session_state["dataset_name"] == "Tiny Shakespeare"


def test_upload_too_short_for_the_block_size(at):
    upload(at, "short.txt", b"hello world, hello world, hello")  # 31 characters: 27 train, 4 val
    assert not at.exception and at.metric  # the text itself is fine to look at ...
    assert "too short for block_size=8" in at.error[0].value  # ... but not for batches of 8
    assert "at most 3" in at.error[0].value and f"at least {min_tokens(8):,} characters" in at.error[0].value
    assert not [df for df in at.dataframe if "when the input is" in df.value.columns]
    at.slider(key="dataset_block_size").set_value(3).run()
    assert not at.exception and not at.error
    assert len(frame(at, "when the input is")) == 3


# ---- Tiny Shakespeare offline and on first use ---------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def test_missing_local_copy_says_how_to_fix(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "input.txt"
    monkeypatch.setenv("TINYGPT_DATA", str(missing))
    at = app_test(PAGE).run()
    assert not at.exception
    assert str(missing) in at.error[0].value
    assert "TINYGPT_DATA=/path/to/input.txt" in at.info[0].value
    assert not at.metric


def test_offline_download_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYGPT_DATA")
    monkeypatch.setenv("TINYGPT_CACHE", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{closed_port()}/input.txt"
    monkeypatch.setenv("TINYGPT_DATA_URL", url)
    at = app_test(PAGE).run()
    assert not at.exception
    assert "Could not get Tiny Shakespeare" in at.error[0].value and url in at.error[0].value
    assert "Working offline?" in at.info[0].value
    assert not at.metric and not (tmp_path / "cache" / corpus.SHAKESPEARE_FILE).exists()
    # the learner can still go on with a text of their own
    upload(at, "mine.txt", b"my own words, " * 10)
    assert not at.exception and at.metric


@pytest.fixture
def loopback_mirror(data_path, is_real_shakespeare):
    """An HTTP server on 127.0.0.1 serving the real dataset, standing in for GitHub."""
    if not is_real_shakespeare:
        pytest.skip("needs the real Tiny Shakespeare (its checksum is verified after download)")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(data_path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{data_path.name}"
    server.shutdown()
    server.server_close()


def test_first_use_downloads_and_caches(monkeypatch, tmp_path, loopback_mirror, text):
    monkeypatch.delenv("TINYGPT_DATA")
    monkeypatch.setenv("TINYGPT_CACHE", str(tmp_path))
    monkeypatch.setenv("TINYGPT_DATA_URL", loopback_mirror)
    at = app_test(PAGE).run()
    assert not at.exception and not at.error
    assert (tmp_path / corpus.SHAKESPEARE_FILE).read_text(encoding="utf-8") == text
    assert {m.label: m.value for m in at.metric}["characters"] == "1,115,394"
    # a second visit finds the cache and downloads nothing
    monkeypatch.setenv("TINYGPT_DATA_URL", f"http://127.0.0.1:{closed_port()}/input.txt")
    assert not app_test(PAGE).run().error


def test_a_widget_change_recomputes_nothing_about_the_text(at, monkeypatch):
    """A slider must answer at once: a rerun reuses the cached statistics and encoding of the text.
    (How long a rerun takes is measured by bench/bench_pages.py, not asserted here.)"""
    import lessons.ui

    calls = []
    for module, name in ((course.dataset, "text_stats"), (lessons.ui, "encode_text")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    for offset in (1000, 2000, 3000):
        at.slider(key="dataset_offset").set_value(offset).run()
    assert not at.exception and calls == []
    at.text_input(key="dataset_typed").input("hello").run()  # the playground is not cached: it runs
    assert not at.exception and calls == []
