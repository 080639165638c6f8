"""Lesson 1: the text, the tokenizer that turns it into integers, the 90/10 split and the random
batches a language model learns from — the first part of the "Let's build GPT" lecture."""

import pandas as pd
import streamlit as st
import torch

from course import dataset
from course.figures import dataset as figures
from course.text import char_label
from lessons import ui
from lessons.bpe_section import bpe_section
from tinygpt.data import CharTokenizer, encode_text, get_batch, split_data

PAGE, EXCERPT = "lessons/1_dataset.py", 1000


@st.cache_data(show_spinner="Counting characters…", max_entries=4)
def stats_of(text: str) -> dataset.TextStats:
    return dataset.text_stats(text)


def show_stats(text: str) -> None:
    stats = stats_of(text)
    counts = [("characters", stats.n_chars), ("lines", stats.n_lines), ("words", stats.n_words)]
    ui.metrics([(label, f"{n:,}") for label, n in [*counts, ("vocabulary size", stats.vocab_size)]])
    st.markdown("**The vocabulary:** every distinct character, sorted. A character's position is its id.")
    st.code(" ".join(char_label(ch) for ch in stats.vocab), language=None, wrap_lines=True)
    ui.plot(figures.frequency_figure(stats), "dataset_freq")
    offset = 0
    if len(text) > EXCERPT:
        offset = st.slider("Read from character", 0, len(text) - EXCERPT, 0, key="dataset_offset")
    st.caption(f"Characters {offset:,} to {offset + min(EXCERPT, len(text)):,} of {len(text):,}")
    st.code(dataset.excerpt(text, offset, EXCERPT), language=None, height=260)


def show_playground(tokenizer: CharTokenizer) -> None:
    typed = st.text_input("Type some text", "hii there", max_chars=200, key="dataset_typed")
    pg = dataset.tokenizer_playground(tokenizer, typed)
    st.dataframe(figures.playground_table(pg), height=min(400, 38 + 35 * len(pg.rows)), placeholder="—")
    if pg.error is None:
        st.markdown(f"`encode({typed!r})` → `{pg.ids}`  \n`decode(...)` → `{pg.decoded!r}`")
        if typed:
            st.success(
                "Round trip: decode(encode(text)) gives back exactly the text.", icon=":material/check:"
            )
        return
    sub = char_label(pg.replacement)
    st.warning(
        f"Strict encoding refuses this text — {pg.error}. Those rows are highlighted. A lenient mode "
        f"keeps going: `replace` puts `{sub}` in their place, `drop` leaves them out.",
        icon=":material/warning:",
    )
    left, right = st.columns(2)
    left.markdown(f"**`unknown='replace'`** → `{pg.replace_ids}`  \ndecodes to `{pg.replaced!r}`")
    right.markdown(f"**`unknown='drop'`** → `{pg.drop_ids}`  \ndecodes to `{pg.dropped!r}`")


def show_batches(splits, tokenizer: CharTokenizer, n_tokens: int) -> None:
    c1, c2, c3 = st.columns(3)
    block_size = c1.slider("block_size (T)", 1, 64, 8, key="dataset_block_size")
    batch_size = c2.slider("batch_size (B)", 1, 16, 4, key="dataset_batch_size")
    seed = c3.number_input("seed", 0, 2**31 - 1, 1337, key="dataset_seed")
    if problem := dataset.check_length(n_tokens, block_size):
        st.error(problem, icon=":material/error:")
        return
    x, y = get_batch(splits.train, block_size, batch_size, generator=torch.Generator().manual_seed(seed))
    st.caption(
        f"x and y have shape (B, T) = {tuple(x.shape)}. Row b of y is row b of x moved one place left."
    )
    narrow = {i: st.column_config.Column(width=34, alignment="center") for i in range(block_size + 1)}
    for kind, show in (
        ("ids", torch.Tensor.tolist),
        ("characters", lambda m: dataset.char_matrix(m, tokenizer)),
    ):
        for col, name, m in zip(st.columns(2), ["**x** (inputs)", "**y** (targets)"], [x, y], strict=True):
            col.markdown(f"{name} as {kind}")
            col.dataframe(pd.DataFrame(show(m)), width="content", column_config=narrow)
    b = st.slider("Row b to unpack", 0, batch_size - 1, 0, key="dataset_row") if batch_size > 1 else 0
    st.markdown(f"One chunk of {block_size} characters holds **{block_size} training examples**:")
    st.dataframe(figures.examples_table(dataset.examples(x[b], y[b], tokenizer)), hide_index=True)


ui.header(
    PAGE,
    "A language model learns to continue text. Before any model, we need three things: **text**, a way to "
    "turn it into **numbers**, and a way to cut it into **training examples**. The lecture trains on "
    "Tiny Shakespeare — 1.1 MB of plays — but any text works: try the sample server log, or your own file. "
    "The text you choose here is the one the later lessons train on.",
)
st.header("Choose the text")
name, text = ui.choose_text()
if name == ui.SAMPLE_LOGS:
    st.caption(
        "The web server log of an imaginary tea shop, one request per line in nginx's *combined* format: "
        "address, time, request, status, size, referrer and browser. Visitors browse, fill carts and pay; "
        "crawlers and scanners come by. `course/corpora.py` made it from a fixed seed "
        "(`python -m course.corpora` writes it again, byte for byte). A model trained on it learns a "
        "different vocabulary and a rigid structure instead of verse."
    )

st.header("Look at the data")
show_stats(text)

st.header("Characters to integers")
st.markdown(
    "Our tokenizer is the simplest one there is: each distinct character gets an id. `stoi` maps a character "
    "to its id and `itos` back. GPT-2 uses ~50,000 sub-word tokens instead: byte-pair encoding, built below on this same text."
)
vocab, data = ui.encoded(text)
tokenizer = CharTokenizer(vocab)
show_playground(tokenizer)
ui.show_source(CharTokenizer, encode_text)
bpe_section(text)

st.header("Train and validation split")
st.markdown(
    f"The first 90% of **{name}** is for training; the model never sees the last 10%, so its loss there "
    "tells us whether it learned the language or memorised the text. Drawn to scale:"
)
splits = split_data(data)
ui.plot(figures.split_figure(len(splits.train), len(splits.val)), "dataset_split")
left, right, _ = st.columns([1, 1, 2])
left.metric("train tokens", f"{len(splits.train):,}")
right.metric("val tokens", f"{len(splits.val):,}")
ui.show_source(split_data)

st.header("Batches")
st.markdown(
    "Training never feeds the whole text at once. `get_batch` picks `batch_size` random chunks of "
    "`block_size + 1` characters: x is the first `block_size` of each, y the same chunk shifted by one. "
    "Move the sliders: the same seed always gives the same batch."
)
show_batches(splits, tokenizer, len(data))
ui.show_source(get_batch)
ui.next_lesson(PAGE)
