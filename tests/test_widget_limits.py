"""Every widget at its limits: on every lesson, each number input, slider and select slider is set to
its lowest and highest value, and each text box to nothing and to 10,000 characters that mix the
text's own characters with ones it has never seen. None may end in an exception box or a hung page;
a page may answer with a clear message instead. One widget moves at a time, the others keep their
defaults; on the generation lesson each new number or text is followed by pressing its buttons.
Widgets that appear only under a choice (e.g. "Stop after: steps" shows a Steps input) are reached
by trying each option of every radio, segmented control, select box and toggle."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import app_test

from lessons.ui import LESSONS

NUMERIC = ("number_input", "slider", "select_slider")
TEXT = ("text_input", "text_area")
CHOICE = ("radio", "segmented_control", "selectbox", "toggle")
UNSEEN = "€🙂中\u00e9\u0000\t\u200b"  # none of these is in Tiny Shakespeare
LONG_TEXT = (("To be, or not to be" + UNSEEN) * 400)[:10_000]
UNBOUNDED = 10**12  # what a learner could type into a number input that sets no limit
RUN_TIMEOUT = 60  # seconds: a page that takes longer to answer one change counts as hung
# Buttons pressed after every change, so values that only matter when something runs (the number of
# characters to generate) run too. Training's Start button is left out: it starts background runs.
ACTIONS = {"lessons/6_generate.py": ("generate_go", "generate_vs_go")}
# Where the walk starts other than at the defaults: the generation lesson's presses (94 of them) each
# generate its slider's lowest count, 50 characters, not its default 500 (the walk took 38 s with 500).
# The slider itself is still driven to both of its limits, 50 and 2,000.
START = {"lessons/6_generate.py": {"generate_chars": 50}}


def open_page(path: str):
    at = app_test("app.py", timeout=RUN_TIMEOUT)
    at.run()
    for key, value in START.get(path, {}).items():
        at.session_state[key] = value
    return at.switch_page(path).run()


def widgets(at) -> dict[str, tuple[str, object]]:
    """key -> (kind, widget) of every enabled widget this test drives."""
    found = {}
    for kind in NUMERIC + TEXT + CHOICE:
        for w in at.get(kind):
            if w.key and not w.proto.disabled:
                found[w.key] = (kind, w)
    return found


def values_to_try(kind: str, w) -> list:
    """Lowest and highest for numbers, empty and long for text, every option of a choice."""
    if kind in TEXT:
        return ["", LONG_TEXT]
    if kind == "toggle":
        return [not w.value]
    if kind in CHOICE:  # options are labels: try those that are their own value
        return [o for o in w.options if o != w.value and labels_itself(w, o)]
    if kind == "select_slider":  # options are labels: numbers become numbers again; labels that are
        ends = [w.options[0], w.options[-1]]  # not numbers over integer values mean range(n), by index
        if isinstance(w.value, int):
            return (
                [int(e) for e in ends]
                if all(e.lstrip("-").isdigit() for e in ends)
                else [0, len(w.options) - 1]
            )
        return ends
    p = w.proto
    low = p.min if kind == "slider" or p.has_min else -UNBOUNDED
    high = p.max if kind == "slider" or p.has_max else UNBOUNDED
    low, high = (int(low), int(high)) if p.data_type == p.INT else (low, high)
    return [(low, low), (high, high)] if isinstance(w.value, tuple) else [low, high]


def labels_itself(w, option: str) -> bool:
    """Whether the choice's `option` label is shown for the value `option` (no format_func or one
    that keeps it), so that setting that value selects it."""
    try:
        return str(w.format_func(option)) == option
    except Exception:  # noqa: BLE001 - a format_func that cannot take a label
        return False


def run(at, what: str):
    """Rerun the page after a change; a page that does not answer within RUN_TIMEOUT has hung. With
    $TINYGPT_WIDGET_TIMES set, each change's seconds go to that file (bench/bench_widgets.py)."""
    start = time.perf_counter()
    try:
        return at.run()
    except RuntimeError as e:
        if "timed out" not in str(e):
            raise
        pytest.fail(f"{what}: the page did not answer within {RUN_TIMEOUT} s ({e})")
    finally:
        if os.environ.get("TINYGPT_WIDGET_TIMES"):
            with open(os.environ["TINYGPT_WIDGET_TIMES"], "a") as f:
                f.write(json.dumps({"change": what, "seconds": time.perf_counter() - start}) + "\n")


def assert_no_exception(at, what: str) -> None:
    messages = [e.message for e in at.exception]
    assert not messages, f"{what}: {messages[0][:2000]}"


def drive(at, path: str, done: set[str], context: str = "") -> None:
    """Move each widget not yet driven to each of its values, one at a time, then back; widgets
    that a choice reveals are driven while that choice holds."""
    for key in list(widgets(at)):
        if key in done or key not in widgets(at):  # driven already, or hidden by the last change
            continue
        done.add(key)
        kind, w = widgets(at)[key]
        default = w.value
        for value in values_to_try(kind, w):
            shown = f"{len(value):,} characters" if kind in TEXT else repr(value)
            where = f"{path}{context}: {key} = {shown}"
            run(getattr(at, kind)(key=key).set_value(value), where)
            assert_no_exception(at, where)
            for button in ACTIONS.get(path, ()) if kind not in CHOICE else ():
                if any(b.key == button for b in at.button):
                    run(at.button(key=button).click(), f"{where}, then {button}")
                    assert_no_exception(at, f"{where}, then {button}")
            if kind in CHOICE:
                drive(at, path, done, f"{context} (with {key} = {value!r})")
        if key in widgets(at):
            run(getattr(at, kind)(key=key).set_value(default), f"{path}{context}: {key} back to {default!r}")


@pytest.mark.parametrize("path", [lesson.path for lesson in LESSONS])
def test_every_widget_at_its_limits_leaves_no_exception(path):
    at = open_page(path)
    assert_no_exception(at, f"{path} as it opens")
    drive(at, path, set())
