"""The app shell under AppTest: the home page reports the machine, and every lesson in
lessons.ui.LESSONS opens through app.py's navigation without an exception."""

import shutil

import pytest
from conftest import app_test

from lessons.ui import LESSONS, SHIPPED_DIR, USER_DIR
from tinygpt.checkpoint import list_checkpoints
from tinygpt.device import best_device, describe_device, training_threads


@pytest.fixture
def app():
    return app_test("app.py").run()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_home_is_the_default_page(app):
    assert not app.exception
    assert app.title[0].value == "TinyGPT: build a GPT from scratch"


def test_home_shows_device_dataset_and_checkpoints(app):
    shown = metrics(app)
    assert shown["Training device"] == best_device().upper()
    assert describe_device(best_device(), training_threads()) in [c.value for c in app.caption]
    assert shown["Tiny Shakespeare"] == "ready"  # conftest points TINYGPT_DATA at a local copy
    assert shown["Checkpoints"] == str(len(list_checkpoints(SHIPPED_DIR, USER_DIR)))


def test_home_lists_a_new_checkpoint(runs_dir, tiny_checkpoint):
    before = len(list_checkpoints(SHIPPED_DIR, USER_DIR))
    shutil.copy(tiny_checkpoint, runs_dir / "my-run.safetensors")
    at = app_test("app.py").run()
    assert not at.exception
    assert metrics(at)["Checkpoints"] == str(before + 1)
    assert any("my-run (gpt, your run" in c.value for c in at.caption)


def test_home_explains_a_missing_local_copy(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGPT_DATA", str(tmp_path / "missing.txt"))
    at = app_test("app.py").run()
    assert metrics(at)["Tiny Shakespeare"] == "not found"
    assert any("missing.txt" in c.value and "does not exist" in c.value for c in at.caption)


@pytest.mark.parametrize("path", [path for path, _, _ in LESSONS])
def test_every_lesson_opens_through_the_navigation(app, path):
    app.switch_page(path).run(timeout=120)
    assert not app.exception, app.exception[0].message if app.exception else ""
    assert app.title, f"{path} shows no title"


def test_dataset_choice_survives_a_page_switch(app):
    app.switch_page("lessons/1_dataset.py").run()
    app.radio(key="dataset_source").set_value("Your own .txt file").run()
    app.file_uploader[0].upload("sonnet.txt", b"Shall I compare thee to a summer's day?\n" * 10, "text/plain")
    app.run()
    assert app.session_state["dataset_name"] == "sonnet.txt"

    app.switch_page("lessons/0_home.py").run()
    assert any("**sonnet.txt**" in c.value for c in app.caption)
    app.switch_page("lessons/1_dataset.py").run()
    assert not app.exception
    assert app.radio(key="dataset_source").value == "Your own .txt file"
    assert app.session_state["dataset_name"] == "sonnet.txt"
    assert metrics(app)["characters"] == f"{400:,}"
    assert any("sonnet.txt" in c.value and "uploaded earlier" in c.value for c in app.caption)
