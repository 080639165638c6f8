"""Shared fixtures: the dataset (the real one from ../shared when present, else a generated text),
tiny configs and checkpoints, AppTest helpers, and a `streamlit run` server for browser tests.

Environment set here, before any test imports the app: TINYGPT_DATA (no test downloads anything),
TINYGPT_CACHE and TINYGPT_RUNS_DIR (temporary folders, so tests never touch the user's files),
TINYGPT_RUN_LAUNCHER (runs train in a thread here, but in tests marked real_worker).
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from bench import serve

# Before anything loads torch: the tests share 2 cores with a Streamlit server and chromium, and
# OpenMP threads that spin while they wait collapse there (one test: 67 s spinning, 4 s passive).
# The app itself keeps the default policy, which is 2.5x faster on an idle machine (docs/benchmarks.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
_TMP = Path(tempfile.mkdtemp(prefix="tinygpt-tests-"))
ARTIFACTS = ROOT / "test-artifacts"


def generated_text(n_chars: int = 200_000, seed: int = 0) -> str:
    """A play-like text with Shakespeare's shape (speaker lines, verse) for machines without the data."""
    rng = random.Random(seed)
    words = "the king my lord thou art and of to love sweet night good death what shall be not".split()
    speakers = ["ROMEO", "JULIET", "KING HENRY", "First Citizen", "MENENIUS"]
    lines = []
    while sum(len(s) + 1 for s in lines) < n_chars:
        lines.append(f"{rng.choice(speakers)}:")
        for _ in range(rng.randint(1, 4)):
            words_in_line = [rng.choice(words) for _ in range(rng.randint(4, 9))]
            lines.append(" ".join(words_in_line).capitalize() + rng.choice([",", ".", "!", "?", ";"]))
        lines.append("")
    return "\n".join(lines)[:n_chars]


def _dataset_path() -> Path:
    if SHARED_DATA.is_file():
        return SHARED_DATA
    path = _TMP / "generated.txt"
    path.write_text(generated_text(), encoding="utf-8")
    return path


DATA_PATH = _dataset_path()
os.environ["TINYGPT_DATA"] = str(DATA_PATH)
os.environ["TINYGPT_CACHE"] = str(_TMP / "cache")
os.environ["TINYGPT_RUNS_DIR"] = str(_TMP / "runs")
os.environ.setdefault("TINYGPT_THREADS", "2")
# Runs train in a thread of the test process (course.launch's "inprocess": the same pickled messages
# over real pipes, without a process per run); tests marked real_worker train in a real worker.
os.environ.setdefault("TINYGPT_RUN_LAUNCHER", "inprocess")


@pytest.fixture(autouse=True)
def _main_module_back():
    """AppTest, like Streamlit, leaves the last page it ran as __main__; a spawned process (the
    ladder's pool) would run that page again first. Each test starts with pytest's own."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _real_worker_when_marked(request, monkeypatch):
    if request.node.get_closest_marker("real_worker") and os.environ["TINYGPT_RUN_LAUNCHER"] == "inprocess":
        monkeypatch.delenv("TINYGPT_RUN_LAUNCHER")  # this platform's launcher, here and in subprocesses


@pytest.fixture(scope="session", autouse=True)
def _remove_temporary_folder():
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def data_path() -> Path:
    return DATA_PATH


@pytest.fixture(scope="session")
def text() -> str:
    return DATA_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def is_real_shakespeare() -> bool:
    return DATA_PATH == SHARED_DATA


@pytest.fixture
def tiny_cfg():
    from tinygpt import GPTConfig

    return GPTConfig(vocab_size=65, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.0)


@pytest.fixture(scope="session")
def tiny_checkpoint(text) -> Path:
    """A GPT checkpoint from a few seconds of training on the `tiny` preset (made once)."""
    from tinygpt import CharTokenizer, TrainConfig, build_model, encode_text, make_config, split_data, train

    tok = CharTokenizer.from_text(text)
    model = build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))
    path = _TMP / "tiny-gpt.safetensors"
    cfg = TrainConfig(max_steps=30, eval_interval=30, eval_iters=2, checkpoint_path=str(path), device="cpu")
    for _ in train(model, split_data(encode_text(text, tok)), cfg, tok):
        pass
    return path


@pytest.fixture
def runs_dir() -> Path:
    """The folder the app saves the learner's runs to, emptied for this test."""
    path = Path(os.environ["TINYGPT_RUNS_DIR"])
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fresh_app(runs_dir):
    """Empty Streamlit caches and an empty runs folder; at the end, no run left going. Page tests that
    start runs use it for every test (`pytestmark = pytest.mark.usefixtures("fresh_app")`)."""
    import streamlit as st

    from course import runs

    st.cache_resource.clear()
    st.cache_data.clear()
    yield runs_dir
    runs.shared_registry().stop_all()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session")
def shipped():
    """The shipped GPT checkpoint, loaded once."""
    from tinygpt.checkpoint import load_checkpoint

    return load_checkpoint(ROOT / "checkpoints" / "shakespeare-gpt.safetensors")


def fresh(**switches):
    """A tiny GPT (block 16) with the given config switches, the same random weights every time."""
    import torch

    from tinygpt.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig.preset("tiny", vocab_size=65, block_size=16, **switches)).eval()


@pytest.fixture
def no_shipped(monkeypatch, runs_dir, tmp_path):
    """The app as a fresh install without the shipped checkpoints: only the learner's runs are listed."""
    import streamlit as st

    from lessons import ui

    empty = tmp_path / "shipped"
    empty.mkdir()
    monkeypatch.setattr(ui, "SHIPPED_DIR", empty)
    st.cache_resource.clear()
    yield runs_dir
    st.cache_resource.clear()


# ---- AppTest helpers -------------------------------------------------------------------------


def app_test(page: str = "app.py", timeout: float = 60):
    """An AppTest of `page` (relative to the repository root) with a timeout fit for `import torch`."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / page), default_timeout=timeout)


def plotly_spec(at, key: str) -> dict:
    """The plotly figure (as a dict) of the chart created with `key`."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise KeyError(f"no plotly chart with key {key!r}")


def decode_array(value):
    """A plotly data array: a plain list, or plotly 7's {"dtype", "bdata", "shape"} encoding."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            arr = arr.reshape([int(s) for s in str(shape).split(",")] if isinstance(shape, str) else shape)
        return arr
    return np.asarray(value)


# ---- a real `streamlit run` for browser tests ----------------------------------------------------


@pytest.fixture(scope="session")
def streamlit_server():
    """Base URL of `streamlit run app.py` started headless on a free loopback port (its log in the
    temporary folder)."""
    env = {k: v for k, v in os.environ.items() if (k, v) != ("TINYGPT_RUN_LAUNCHER", "inprocess")}
    with open(_TMP / "streamlit.log", "w") as log, serve.streamlit_server(log, env) as (url, _):
        yield url


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at Debian's chromium (never a downloaded one)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("TINYGPT_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": flags}


@pytest.fixture
def console_errors(page):
    """Console errors the page logged; browser tests assert this stays empty."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def screenshot(page, name: str) -> Path:
    """Save a screenshot of the whole page as a test artifact in test-artifacts/. Streamlit scrolls
    inside its main block, so the window grows to that block's height for the picture."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain]')?.scrollHeight || 0")
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        # let charts redraw at the new size (29 pictures in the suite: 1 s each cost it 29 s)
        page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=True)
    if size and height > size["height"]:
        page.set_viewport_size(size)
    return path


def wait_for_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished the script run that a page load or widget change started."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    app = "[data-testid=stApp]"
    try:
        page.wait_for_selector(f"{app}[data-test-script-state=running]", timeout=2_000)
    except PlaywrightTimeoutError:
        pass  # the run was over before we looked
    page.wait_for_selector(f"{app}[data-test-script-state=notRunning]", timeout=timeout)


def assert_no_streamlit_exception(page) -> None:
    """Fail if Streamlit drew an exception box anywhere on the page."""
    boxes = page.locator("[data-testid='stException']")
    assert boxes.count() == 0, boxes.first.inner_text()
