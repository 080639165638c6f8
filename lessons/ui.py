"""What every lesson page shares: the lesson list, the real-source viewer, "next lesson" links,
and the cached dataset and checkpoint loaders. Streamlit code lives here, never in `tinygpt/`."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import streamlit as st
import torch
from streamlit.errors import StreamlitPageNotFoundError

from tinygpt import corpus
from tinygpt.checkpoint import Checkpoint, list_checkpoints, load_checkpoint
from tinygpt.data import CharTokenizer, encode_text

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "checkpoints"
# the learner's runs (git-ignored); tests point TINYGPT_RUNS_DIR at a temporary folder
USER_DIR = Path(os.environ.get("TINYGPT_RUNS_DIR") or SHIPPED_DIR / "user")

# (page file, title, icon) in lesson order; app.py builds the navigation from this list.
LESSONS = [
    ("lessons/0_home.py", "Home", ":material/home:"),
    ("lessons/1_dataset.py", "1 · Dataset & tokenizer", ":material/dataset:"),
    ("lessons/2_attention.py", "2 · The attention trick", ":material/grid_on:"),
    ("lessons/3_training.py", "3 · Train: bigram vs Transformer", ":material/monitoring:"),
    ("lessons/4_generate.py", "4 · Generate", ":material/edit_note:"),
]


def show_source(*objects, label: str | None = None, expanded: bool = False) -> None:
    """An expander with the real library source of `objects` (functions or classes)."""
    names = ", ".join(f"`{o.__module__}.{o.__qualname__}`" for o in objects)
    with st.expander(label or f"Show the code: {names}", expanded=expanded, icon=":material/code:"):
        for obj in objects:
            st.code(inspect.getsource(obj), language="python")


def next_lesson(current: str) -> None:
    """A link to the lesson after `current` (a page file from LESSONS)."""
    paths = [path for path, _, _ in LESSONS]
    i = paths.index(current)
    if i + 1 < len(paths):
        path, title, icon = LESSONS[i + 1]
        st.divider()
        try:
            st.page_link(path, label=f"Next lesson: {title}", icon=":material/arrow_forward:")
        except StreamlitPageNotFoundError:
            # the page runs on its own (AppTest of one page file), outside app.py's navigation
            st.markdown(
                f"Next lesson: **{title}** (open the app with `streamlit run app.py` to follow the link)"
            )


@st.cache_data(show_spinner=False, max_entries=1)
def shakespeare_text() -> str:
    """Tiny Shakespeare, from $TINYGPT_DATA or the local cache (call `ensure_shakespeare` first)."""
    return corpus.load_shakespeare()


def ensure_shakespeare() -> str | None:
    """The text, downloading it with a progress bar on first use; None (and a message) if offline."""
    if not corpus.dataset_ready():
        bar = st.progress(0.0, text="Downloading Tiny Shakespeare (about 1.1 MB, once)…")

        def progress(done: int, total: int | None) -> None:
            total = total or corpus.SHAKESPEARE_CHARS
            bar.progress(min(1.0, done / total), text=f"Downloading Tiny Shakespeare: {done / 1e6:.2f} MB")

        try:
            corpus.load_shakespeare(progress=progress)
        except corpus.DatasetError as e:
            bar.empty()
            st.error(str(e), icon=":material/cloud_off:")
            st.info(OFFLINE_HELP)
            return None
        bar.empty()
    try:
        return shakespeare_text()
    except corpus.DatasetError as e:
        st.error(str(e), icon=":material/error:")
        return None


# The learner's choice of text, set by the dataset lesson and read by later lessons through
# current_text(): DATASET_NAME_KEY holds "Tiny Shakespeare" or the uploaded file's name, and
# DATASET_TEXT_KEY the text itself. Both are absent until the dataset lesson has run.
SHAKESPEARE = "Tiny Shakespeare"
DATASET_NAME_KEY = "dataset_name"
DATASET_TEXT_KEY = "dataset_text"


def set_dataset(name: str, text: str) -> None:
    """Make `text` (called `name`) the text every later lesson uses."""
    st.session_state[DATASET_NAME_KEY] = name
    st.session_state[DATASET_TEXT_KEY] = text


def current_text() -> tuple[str, str | None]:
    """(name, text) of the learner's chosen text; Tiny Shakespeare until they choose another.
    The text is None (and the page shows why) when Shakespeare is needed but cannot be had."""
    text = st.session_state.get(DATASET_TEXT_KEY)
    if text is not None:
        return st.session_state.get(DATASET_NAME_KEY, SHAKESPEARE), text
    return SHAKESPEARE, ensure_shakespeare()


OFFLINE_HELP = (
    "**Working offline?** Download `input.txt` from the lecture's repository on another machine, then "
    "start the app with `TINYGPT_DATA=/path/to/input.txt streamlit run app.py` — or upload any text "
    "file in the dataset lesson."
)


@st.cache_data(show_spinner="Encoding the text…", max_entries=4)
def encoded(text: str) -> tuple[str, torch.Tensor]:
    """The vocabulary (as a string) and the whole text as token ids; cached per text."""
    tokenizer = CharTokenizer.from_text(text)
    return tokenizer.chars, encode_text(text, tokenizer)


def checkpoint_choices() -> list[tuple[Path, dict]]:
    """Shipped and user checkpoints with their metadata, newest first (unreadable files skipped)."""
    return list_checkpoints(SHIPPED_DIR, USER_DIR)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def cached_checkpoint(path: str, mtime: float) -> Checkpoint:
    """A checkpoint loaded once per file version (mtime is part of the key). Do not train it."""
    return load_checkpoint(path)


def checkpoint_label(path: Path, meta: dict) -> str:
    where = "your run" if path.parent.resolve() == USER_DIR.resolve() else "shipped"
    val = meta["summary"].get("val_loss")
    loss = f", val {val:.3f}" if isinstance(val, (int, float)) else ""
    return f"{path.stem} ({meta['model_type']}, {where}{loss})"
