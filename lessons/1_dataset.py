"""Lesson 1: the text, the tokenizer that turns it into integers, the 90/10 split and the random
batches a language model learns from — the first part of the "Let's build GPT" lecture."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from course import dataset as explore
from course.text import char_label as visible
from lessons.ui import (
    DATASET_NAME_KEY,
    SHAKESPEARE,
    encoded,
    ensure_shakespeare,
    next_lesson,
    set_dataset,
    show_source,
)
from tinygpt import corpus
from tinygpt.data import CharTokenizer, encode_text, get_batch, split_data

UPLOAD = "Your own .txt file"
EXCERPT_CHARS = 1000
ACCENT, MUTED = "#c2410c", "#94a3b8"


@st.cache_data(show_spinner="Counting characters…", max_entries=4)
def stats_of(text: str):
    return explore.text_stats(text)


def choose_text() -> tuple[str, str]:
    """The text radio and the uploader; returns (name, text) or stops the page with a message."""
    uploaded_before = st.session_state.get(DATASET_NAME_KEY, SHAKESPEARE) != SHAKESPEARE
    source = st.radio(
        "Which text?",
        [SHAKESPEARE, UPLOAD],
        index=int(uploaded_before),
        horizontal=True,
        key="dataset_source",
        persist_state="session",
    )
    if source == SHAKESPEARE:
        text = ensure_shakespeare()
        if text is None:
            st.stop()
        set_dataset(SHAKESPEARE, text)
        return SHAKESPEARE, text
    upload = st.file_uploader(
        f"A UTF-8 text file (up to {corpus.MAX_UPLOAD_BYTES // 10**6} MB)", type=["txt"]
    )
    if upload is None:
        if uploaded_before:
            st.caption(f"Using **{st.session_state[DATASET_NAME_KEY]}**, which you uploaded earlier.")
            return st.session_state[DATASET_NAME_KEY], st.session_state["dataset_text"]
        st.info("Choose a `.txt` file to explore it — anything from song lyrics to source code works.")
        st.stop()
    if st.session_state.get("dataset_upload_id") != upload.file_id:
        try:
            text = corpus.text_from_bytes(upload.getvalue(), name=upload.name)
        except corpus.DatasetError as e:
            st.error(f"{e}.", icon=":material/error:")
            st.stop()
        set_dataset(upload.name, text)
        st.session_state["dataset_upload_id"] = upload.file_id
    return upload.name, st.session_state["dataset_text"]


def show_stats(text: str) -> None:
    stats = stats_of(text)
    for col, (label, value) in zip(
        st.columns(4),
        [
            ("characters", stats.n_chars),
            ("lines", stats.n_lines),
            ("words", stats.n_words),
            ("vocabulary size", stats.vocab_size),
        ],
        strict=True,
    ):
        col.metric(label, f"{value:,}")
    st.markdown("**The vocabulary:** every distinct character, sorted. A character's position is its id.")
    st.code(" ".join(visible(ch) for ch in stats.vocab), language=None, wrap_lines=True)
    chars, counts = zip(*stats.frequencies, strict=True)
    hover = "%{x}: %{y:,} times<extra></extra>"
    fig = go.Figure(go.Bar(x=[visible(c) for c in chars], y=counts, marker_color=ACCENT, hovertemplate=hover))
    fig.update_layout(
        title="How often each character appears", height=320, margin=dict(t=40, b=10, l=10, r=10)
    )
    fig.update_xaxes(type="category", tickangle=0, dtick=1)
    fig.update_yaxes(title="count")
    st.plotly_chart(fig, key="dataset_freq")
    offset = 0
    if len(text) > EXCERPT_CHARS:
        offset = st.slider("Read from character", 0, len(text) - EXCERPT_CHARS, 0, key="dataset_offset")
    st.caption(f"Characters {offset:,} to {offset + min(EXCERPT_CHARS, len(text)):,} of {len(text):,}")
    st.code(explore.excerpt(text, offset, EXCERPT_CHARS), language=None, height=260)


def show_playground(tokenizer: CharTokenizer) -> None:
    typed = st.text_input("Type some text", "hii there", max_chars=200, key="dataset_typed")
    pg = explore.tokenizer_playground(tokenizer, typed)
    sub = visible(pg.replacement)
    table = pd.DataFrame(
        {
            "character": [visible(r.char) for r in pg.rows],
            "in vocabulary": [r.known for r in pg.rows],
            "id": pd.array([r.id for r in pg.rows], dtype="Int64"),
            f"unknown='replace' ({sub})": [r.replace_id for r in pg.rows],
            "unknown='drop'": pd.array([r.drop_id for r in pg.rows], dtype="Int64"),
        }
    )
    unknown_row = ["background-color: #fde2d4"] * len(table.columns)
    styled = table.style.apply(lambda row: [""] * len(row) if row["in vocabulary"] else unknown_row, axis=1)
    st.dataframe(styled, height=min(400, 38 + 35 * len(table)), placeholder="—")
    if pg.error is None:
        st.markdown(f"`encode({typed!r})` → `{pg.ids}`  \n`decode(...)` → `{pg.decoded!r}`")
        if typed:
            st.success(
                "Round trip: decode(encode(text)) gives back exactly the text.", icon=":material/check:"
            )
        return
    st.warning(
        f"Strict encoding refuses this text — {pg.error}. Those rows are highlighted. A lenient mode "
        f"keeps going: `replace` puts `{sub}` in their place, `drop` leaves them out.",
        icon=":material/warning:",
    )
    left, right = st.columns(2)
    left.markdown(f"**`unknown='replace'`** → `{pg.replace_ids}`  \ndecodes to `{pg.replaced!r}`")
    right.markdown(f"**`unknown='drop'`** → `{pg.drop_ids}`  \ndecodes to `{pg.dropped!r}`")


def show_split(data: torch.Tensor):
    splits = split_data(data)
    n_train, n_val = len(splits.train), len(splits.val)
    fig = go.Figure()
    for name, n, color in [("train", n_train, ACCENT), ("val", n_val, MUTED)]:
        fig.add_trace(
            go.Bar(
                x=[n],
                y=["text"],
                name=name,
                orientation="h",
                marker_color=color,
                text=[f"{name} {n / len(data):.0%}"],
                textposition="inside",
            )
        )
    fig.update_layout(barmode="stack", height=140, showlegend=False, margin=dict(t=10, b=10, l=10, r=10))
    fig.update_xaxes(title="position in the text (tokens)")
    fig.update_yaxes(visible=False)
    st.plotly_chart(fig, key="dataset_split")
    left, right, _ = st.columns([1, 1, 2])
    left.metric("train tokens", f"{n_train:,}")
    right.metric("val tokens", f"{n_val:,}")
    return splits


def show_batches(splits, tokenizer: CharTokenizer, n_tokens: int) -> None:
    c1, c2, c3 = st.columns(3)
    block_size = c1.slider("block_size (T)", 1, 64, 8, key="dataset_block_size")
    batch_size = c2.slider("batch_size (B)", 1, 16, 4, key="dataset_batch_size")
    seed = c3.number_input("seed", 0, 2**31 - 1, 1337, key="dataset_seed")
    problem = explore.check_length(n_tokens, block_size)
    if problem:
        st.error(problem, icon=":material/error:")
        return
    x, y = get_batch(splits.train, block_size, batch_size, generator=torch.Generator().manual_seed(seed))
    st.caption(
        f"x and y have shape (B, T) = {tuple(x.shape)}. Row b of y is row b of x moved one place left."
    )
    # integer keys are positions, the index column first
    narrow = {i: st.column_config.Column(width=34, alignment="center") for i in range(block_size + 1)}
    for kind, matrix in [
        ("ids", torch.Tensor.tolist),
        ("characters", lambda m: explore.char_matrix(m, tokenizer)),
    ]:
        for col, name, m in zip(st.columns(2), ["**x** (inputs)", "**y** (targets)"], [x, y], strict=True):
            col.markdown(f"{name} as {kind}")
            col.dataframe(pd.DataFrame(matrix(m)), width="content", column_config=narrow)
    b = st.slider("Row b to unpack", 0, batch_size - 1, 0, key="dataset_row") if batch_size > 1 else 0
    st.markdown(f"One chunk of {block_size} characters holds **{block_size} training examples**:")
    rows = [
        {
            "t": e.t,
            "when the input is": str(e.context_ids),
            "(text)": e.context.replace("\n", "\\n"),
            "the target is": e.target_id,
            "(char)": visible(e.target),
        }
        for e in explore.examples(x[b], y[b], tokenizer)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


st.title("Lesson 1 · The dataset, the tokenizer and the batches")
st.markdown(
    "A language model learns to continue text. Before any model, we need three things: **text**, a way to "
    "turn it into **numbers**, and a way to cut it into **training examples**. The lecture trains on "
    "Tiny Shakespeare — 1.1 MB of plays — but any text file works."
)
st.header("Choose the text")
name, text = choose_text()

st.header("Look at the data")
show_stats(text)

st.header("Characters to integers")
st.markdown(
    "Our tokenizer is the simplest one there is: each distinct character gets an id. `stoi` maps a character "
    "to its id and `itos` back. GPT-2 uses ~50,000 sub-word tokens instead; the idea is the same."
)
vocab, data = encoded(text)
tokenizer = CharTokenizer(vocab)
show_playground(tokenizer)
show_source(CharTokenizer, encode_text)

st.header("Train and validation split")
st.markdown(
    f"The first 90% of **{name}** is for training; the model never sees the last 10%, so its loss there "
    "tells us whether it learned the language or memorised the text. Drawn to scale:"
)
splits = show_split(data)
show_source(split_data)

st.header("Batches")
st.markdown(
    "Training never feeds the whole text at once. `get_batch` picks `batch_size` random chunks of "
    "`block_size + 1` characters: x is the first `block_size` of each, y the same chunk shifted by one. "
    "Move the sliders: the same seed always gives the same batch."
)
show_batches(splits, tokenizer, len(data))
show_source(get_batch)
next_lesson("lessons/1_dataset.py")
