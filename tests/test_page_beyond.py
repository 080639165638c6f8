"""The lecture's closing lesson (lessons/7_beyond.py) under AppTest: the last of the lecture's lessons
(lesson 8 goes past the lecture), the scale table and the size widget compute real counts,
fine-tuning trains a copy and shows its answer, and the page still teaches without any checkpoint."""

import shutil

import pytest
from conftest import app_test, plotly_spec

from lessons.ui import LESSONS

PAGE = "lessons/7_beyond.py"


def open_page(timeout: float = 120):
    at = app_test("app.py", timeout=timeout)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def no_checkpoints(monkeypatch, runs_dir, tmp_path):
    import lessons.ui

    empty = tmp_path / "shipped"
    empty.mkdir()
    monkeypatch.setattr(lessons.ui, "SHIPPED_DIR", empty)
    return runs_dir


def answers(at) -> list[str]:
    """The generated texts (plain code blocks; the source viewers are Python)."""
    return [c.value for c in at.code if c.language == "plaintext"]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_lectures_last_lesson_with_the_scale_table():
    here = [lesson.path for lesson in LESSONS].index(PAGE)
    assert LESSONS[here].title == "7 · From TinyGPT to ChatGPT"
    at = open_page()
    assert at.title[0].value == "Lesson 7 · From TinyGPT to ChatGPT"
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["Bigram (shipped)", "TinyGPT (shipped)", "The lecture's GPT", "GPT-3"]
    assert table["parameters"].tolist()[1:] == ["3.21M", "10.77M", "175B"]
    assert table["on this project's CPU"].iloc[-1].endswith("years")
    # The pre-trained model continues the document rather than answering.
    assert answers(at)[0].startswith("QUESTION: What is a king?\nANSWER:")
    assert at.get("page_link")[-1].proto.label == f"Next lesson: {LESSONS[here + 1].title}"


def test_size_widget_builds_gpt3_in_our_class():
    at = open_page()
    assert metric(at, "parameters") == "162.94M"  # 12 × 768, GPT-2's context and vocabulary, untied
    at.slider(key="beyond_n_layer").set_value(96).run()
    at.select_slider(key="beyond_n_embd").set_value(12288).run()
    at.select_slider(key="beyond_block").set_value(2048).run()
    assert not at.exception
    assert metric(at, "parameters") == "175B"
    assert metric(at, "weights (fp32)") == "700.84 GB"
    assert plotly_spec(at, "beyond_scale")["data"][2]["x"] == [175_208_828_928]
    at.radio(key="beyond_vocab").set_value(65).run()
    assert metric(at, "parameters") == "174B"


def test_fine_tune_a_copy():
    at = open_page(timeout=180)
    at.slider(key="beyond_ft_steps").set_value(10).run()
    assert len(answers(at)) == 1  # only the pre-trained answer so far
    at.button(key="beyond_ft_go").click().run()
    assert not at.exception
    assert answers(at)[1].startswith("QUESTION: What is a king?\nANSWER:")
    assert len(plotly_spec(at, "beyond_ft_loss")["data"][0]["y"]) == 10
    at.text_input(key="beyond_question").set_value("Who art thou?").run()
    assert answers(at)[1].startswith("QUESTION: Who art thou?")  # the copy is kept for this session
    at.slider(key="beyond_ft_steps").set_value(20).run()
    assert "fine-tune again" in at.info[0].value and len(answers(at)) == 1


def test_without_checkpoints(no_checkpoints, tiny_checkpoint):
    at = open_page()
    assert "No trained Transformer checkpoint yet" in at.info[0].value
    assert at.dataframe[0].value["model"].tolist() == ["The lecture's GPT", "GPT-3"]
    shutil.copy(tiny_checkpoint, no_checkpoints / "tiny-gpt.safetensors")
    at.run()
    assert not at.exception
    assert at.selectbox(key="beyond_ckpt").value.endswith("tiny-gpt.safetensors")
