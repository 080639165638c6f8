"""The small Streamlit components every lesson page shares: the lesson list and headers, the
real-source viewer, links between lessons, charts, the learner's chosen text, and checkpoints
(listed, cached, picked or uploaded). Streamlit code lives here and in the pages, never in
`tinygpt/` or `course/`."""

from __future__ import annotations

import functools
import inspect
import os
import threading
import uuid
from pathlib import Path
from typing import NamedTuple

import streamlit as st
import torch
from streamlit.errors import StreamlitPageNotFoundError

from course import corpora
from course.saved_runs import SHIPPED_DIR
from tinygpt import corpus
from tinygpt.checkpoint import Checkpoint, CheckpointError, list_checkpoints, load_checkpoint
from tinygpt.data import CharTokenizer, encode_text

# the learner's runs (git-ignored); tests point TINYGPT_RUNS_DIR at a temporary folder
USER_DIR = Path(os.environ.get("TINYGPT_RUNS_DIR") or SHIPPED_DIR / "user")


class Lesson(NamedTuple):
    path: str
    title: str
    icon: str


# In lesson order; app.py builds the navigation from this list, and each page's title from its entry.
LESSONS = [
    Lesson("lessons/0_home.py", "Home", ":material/home:"),
    Lesson("lessons/1_dataset.py", "1 · Dataset & tokenizer", ":material/dataset:"),
    Lesson("lessons/2_attention.py", "2 · The attention trick", ":material/grid_on:"),
    Lesson("lessons/3_transformer.py", "3 · Build the Transformer", ":material/layers:"),
    Lesson("lessons/4_training.py", "4 · Train: bigram vs Transformer", ":material/monitoring:"),
    Lesson("lessons/5_inside.py", "5 · Inside the trained model", ":material/biotech:"),
    Lesson("lessons/6_generate.py", "6 · Generate", ":material/edit_note:"),
    Lesson("lessons/7_beyond.py", "7 · From TinyGPT to ChatGPT", ":material/rocket_launch:"),
    Lesson("lessons/8_interventions.py", "8 · Which part does what", ":material/science:"),
    Lesson("lessons/9_experiments.py", "9 · Try the extensions", ":material/tune:"),
]
TRAINING = "lessons/4_training.py"


def lesson(path: str) -> Lesson:
    return next(entry for entry in LESSONS if entry.path == path)


def header(path: str, intro: str) -> None:
    """The page's title, "Lesson N · ...", from its LESSONS entry, and its opening paragraph."""
    number, _, title = lesson(path).title.partition(" · ")
    st.title(f"Lesson {number} · {title}")
    st.markdown(intro)


def show_source(*objects, label: str | None = None, expanded: bool = False) -> None:
    """An expander with the real library source of `objects` (functions or classes)."""
    names = ", ".join(f"`{o.__module__}.{o.__qualname__}`" for o in objects)
    with st.expander(label or f"Show the code: {names}", expanded=expanded, icon=":material/code:"):
        for obj in objects:
            st.code(source_of(obj), language="python")


_SOURCE_LOCK = threading.Lock()


@functools.cache
def source_of(obj) -> str:
    """inspect.getsource, once per object and one thread at a time. For a class, Python 3.11 and 3.12
    parse its module with `ast`, whose C state all threads share: two viewers' pages showing code at
    the same moment failed with "SystemError: AST constructor recursion depth mismatch" in the
    deploy rehearsal (bench/rehearsal.py; CPython gh-106905)."""
    with _SOURCE_LOCK:
        return inspect.getsource(obj)


def link(path: str, label: str | None = None, icon: str = ":material/arrow_forward:") -> None:
    """A link to another lesson; plain text when the page runs alone (AppTest of one page file)."""
    label = label or f"Go to {lesson(path).title}"
    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitPageNotFoundError:
        st.markdown(f"{label} (open the app with `streamlit run app.py` to follow the link)")


def next_lesson(current: str) -> None:
    """A link to the lesson after `current`, or back home after the last one."""
    paths = [entry.path for entry in LESSONS]
    st.divider()
    i = paths.index(current)
    if i + 1 < len(paths):
        link(paths[i + 1], f"Next lesson: {LESSONS[i + 1].title}")
    else:
        link(paths[0], "That was the last lesson: back to the start", icon=":material/home:")


def metrics(pairs, columns=None) -> None:
    """(label, value) pairs as a row of st.metric, in `columns` (default: one each)."""
    for col, (label, value) in zip(columns or st.columns(len(pairs)), pairs, strict=False):
        col.metric(label, value)


def viewer() -> str:
    """This browser session's token: the training runs it starts are its own to stop and delete."""
    return st.session_state.setdefault("train_viewer", uuid.uuid4().hex)


def plot(fig, key: str) -> None:
    """A plotly figure, without the mode bar (it covers titles on narrow charts)."""
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


# ---- the learner's text -------------------------------------------------------------------------
# Chosen in lesson 1 and read by later lessons through current_text(): DATASET_NAME_KEY holds
# "Tiny Shakespeare", "Server logs (sample)" or the uploaded file's name, DATASET_TEXT_KEY the text itself.
SHAKESPEARE = "Tiny Shakespeare"
SAMPLE_LOGS = "Server logs (sample)"  # the shipped text that is not Shakespeare (course/corpora.py)
DATASET_NAME_KEY = "dataset_name"
DATASET_TEXT_KEY = "dataset_text"
UPLOAD_TEXT = "Your own .txt file"
TEXT_CHOICES = [SHAKESPEARE, SAMPLE_LOGS, UPLOAD_TEXT]
OFFLINE_HELP = (
    "**Working offline?** Download `input.txt` from the lecture's repository on another machine, then "
    "start the app with `TINYGPT_DATA=/path/to/input.txt streamlit run app.py` — or upload any text "
    "file in the dataset lesson."
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


@st.cache_data(show_spinner=False, max_entries=1)
def sample_logs_text() -> str:
    return corpus.read_text_file(corpora.SAMPLE_LOGS)


def sample_logs() -> str | None:
    """The shipped sample log, or None (and a message) when the file is missing from this copy."""
    try:
        return sample_logs_text()
    except corpus.DatasetError as e:
        st.error(f"{e}. Run `python -m course.corpora` to write it again.", icon=":material/error:")
        return None


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


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def uploaded_text(file_id: str, _data: bytes, name: str) -> str:
    return corpus.text_from_bytes(_data, name=name)


def choose_text() -> tuple[str, str]:
    """The text radio and the uploader; returns (name, text) or stops the page with a message."""
    chosen = st.session_state.get(DATASET_NAME_KEY, SHAKESPEARE)
    source = st.radio(
        "Which text?",
        TEXT_CHOICES,
        TEXT_CHOICES.index(chosen if chosen in TEXT_CHOICES else UPLOAD_TEXT),
        key="dataset_source",
        horizontal=True,
        persist_state="session",
    )
    if source == SHAKESPEARE:
        name, text = SHAKESPEARE, ensure_shakespeare()
    elif source == SAMPLE_LOGS:
        name, text = SAMPLE_LOGS, sample_logs()
    else:
        name, text = upload_text(chosen)
    if text is None:
        st.stop()
    set_dataset(name, text)
    return name, text


def upload_text(chosen: str) -> tuple[str, str]:
    """The uploaded file's text (checked once per upload), or the one uploaded earlier."""
    file = st.file_uploader(f"A UTF-8 text file (up to {corpus.MAX_UPLOAD_BYTES // 10**6} MB)", type=["txt"])
    if file is None and chosen not in TEXT_CHOICES:
        st.caption(f"Using **{chosen}**, which you uploaded earlier.")
        return chosen, st.session_state[DATASET_TEXT_KEY]
    if file is None:
        st.info("Choose a `.txt` file to explore it — anything from song lyrics to source code works.")
        st.stop()
    try:
        return file.name, uploaded_text(file.file_id, file.getvalue(), file.name)
    except corpus.DatasetError as e:
        st.error(f"{e}.", icon=":material/error:")
        st.stop()


@st.cache_data(show_spinner="Encoding the text…", max_entries=4)
def encoded(text: str) -> tuple[str, torch.Tensor]:
    """The vocabulary (as a string) and the whole text as token ids; cached per text."""
    tokenizer = CharTokenizer.from_text(text)
    return tokenizer.chars, encode_text(text, tokenizer)


# ---- checkpoints ----------------------------------------------------------------------------------
UPLOAD = "upload"


def checkpoint_choices(model_type: str | None = None) -> list[tuple[Path, dict]]:
    """Shipped checkpoints, then the learner's runs newest first, with their metadata (unreadable
    files skipped); only those of `model_type` when given."""
    found = list_checkpoints(SHIPPED_DIR, USER_DIR)
    found.sort(key=lambda c: c[0].parent.resolve() != SHIPPED_DIR.resolve())  # stable: keeps newest first
    return [(p, m) for p, m in found if model_type in (None, m["model_type"])]


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def cached_checkpoint(path: str, mtime: float) -> Checkpoint:
    """A checkpoint loaded once per file version (mtime is part of the key). Do not train it."""
    return load_checkpoint(path)


@st.cache_resource(show_spinner="Checking the file…", max_entries=4)
def uploaded_checkpoint(file_id: str, _data: bytes) -> Checkpoint | str:
    """An uploaded checkpoint, checked once per upload (its id is the key), or why it cannot be used."""
    try:
        return load_checkpoint(_data)
    except CheckpointError as e:
        return str(e)


def checkpoint_label(path: Path, meta: dict) -> str:
    where = "your run" if path.parent.resolve() == USER_DIR.resolve() else "shipped"
    val = meta["summary"].get("val_loss")
    loss = f", val {val:.3f}" if isinstance(val, (int, float)) else ""
    return f"{path.stem} ({meta['model_type']}, {where}{loss})"


def load_listed(path: Path) -> Checkpoint | None:
    """A listed checkpoint, or None with the reason shown (the file may have changed since listing)."""
    try:
        return cached_checkpoint(str(path), path.stat().st_mtime)
    except (CheckpointError, OSError) as e:
        st.error(f"{path.name} cannot be loaded: {e}", icon=":material/error:")
        return None


class Picked(NamedTuple):
    name: str  # the file's stem, to title the model
    checkpoint: Checkpoint
    key: str  # unique per file version (path and mtime, or the upload's id): a cache key for its results


def pick_checkpoint(key: str, model_type: str | None = None, upload: bool = False, where=st) -> Picked | None:
    """A checkpoint picker: shipped first, a Transformer by default, and a file upload as the last
    choice when `upload`. Returns the pick, or None with the reason shown (e.g. nothing trained yet)."""
    listed = checkpoint_choices(model_type)
    choices = {str(p): (p, m) for p, m in listed}
    labels = {k: checkpoint_label(p, m) for k, (p, m) in choices.items()} | (
        {UPLOAD: "Upload a file…"} if upload else {}
    )
    if not choices:
        kind = "Transformer " if model_type == "gpt" else ""
        where.info(f"No trained {kind}checkpoint yet: train one in a minute in the training lesson.")
        link(TRAINING)
        if not upload:
            return None
    first_gpt = next((i for i, (_, m) in enumerate(listed) if m["model_type"] == "gpt"), 0)
    picked = where.selectbox("Checkpoint", list(labels), first_gpt, format_func=labels.get, key=key)
    if picked != UPLOAD:
        path = choices[picked][0]
        ckpt = load_listed(path)
        return None if ckpt is None else Picked(path.stem, ckpt, f"{path}:{path.stat().st_mtime}")
    file = where.file_uploader("A TinyGPT checkpoint (.safetensors, up to 25 MB)", key=f"{key}_upload")
    if file is None:
        where.caption("Made by the training lesson or by `python -m tinygpt train --out run.safetensors`.")
        return None
    loaded = uploaded_checkpoint(file.file_id, file.getvalue())
    if isinstance(loaded, str):
        where.error(f"**{file.name}** cannot be used: {loaded}.", icon=":material/error:")
        return None
    return Picked(Path(file.name).stem, loaded, f"upload:{file.file_id}")
