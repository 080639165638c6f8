"""A text that is not Shakespeare through the whole course, under AppTest: the shipped sample log is
one click away in lesson 1, lesson 4 names it and races on it, and a checkpoint trained on it (another
vocabulary) works in the lessons that load checkpoints (2, 5, 6 and 7)."""

from __future__ import annotations

import shutil

import pytest
from conftest import app_test, plotly_spec
from test_page_training import poll, progress_text, tiny, val_points

from course import corpora
from lessons import ui
from tinygpt.checkpoint import read_metadata

LOGS = corpora.SAMPLE_LOGS.read_text(encoding="ascii")


pytestmark = pytest.mark.usefixtures("fresh_app")


@pytest.fixture(scope="module")
def logs_checkpoint(tmp_path_factory):
    """A tiny GPT trained for a few steps on the sample log: its vocabulary is the log's."""
    from tinygpt import CharTokenizer, TrainConfig, build_model, encode_text, make_config, split_data, train

    tok = CharTokenizer.from_text(LOGS)
    model = build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))
    path = tmp_path_factory.mktemp("logs") / "logs-gpt.safetensors"
    cfg = TrainConfig(max_steps=20, eval_interval=20, eval_iters=2, checkpoint_path=str(path), device="cpu")
    for _ in train(model, split_data(encode_text(LOGS, tok)), cfg, tok):
        pass
    return path


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_lesson_1_offers_the_sample_and_lesson_4_trains_on_it():
    at = app_test("app.py", timeout=180).run()
    at.switch_page("lessons/1_dataset.py").run()
    assert at.radio(key="dataset_source").options == [ui.SHAKESPEARE, ui.SAMPLE_LOGS, ui.UPLOAD_TEXT]
    at.radio(key="dataset_source").set_value(ui.SAMPLE_LOGS).run()
    assert not at.exception and not at.error
    assert at.session_state["dataset_name"] == ui.SAMPLE_LOGS and at.session_state["dataset_text"] == LOGS
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["characters"] == f"{len(LOGS):,}" and metrics["lines"] == f"{LOGS.count(chr(10)):,}"
    assert any("python -m course.corpora" in c.value for c in at.caption)
    assert f"The first 90% of **{ui.SAMPLE_LOGS}**" in markdown(at)

    at.switch_page("lessons/4_training.py").run()
    assert not at.exception and not at.error
    facts = f"**Text:** {ui.SAMPLE_LOGS}, {len(LOGS):,} characters, {len(set(LOGS))} distinct"
    assert facts in markdown(at)
    assert f"looks like the text they read: **{ui.SAMPLE_LOGS}**" in markdown(at)

    at.switch_page("lessons/1_dataset.py").run()  # the choice is remembered on the way back
    assert at.radio(key="dataset_source").value == ui.SAMPLE_LOGS


def test_a_race_on_the_sample_says_so_and_saves_what_it_trained_on(runs_dir):
    at = app_test("lessons/4_training.py", timeout=180)
    at.session_state["dataset_name"], at.session_state["dataset_text"] = ui.SAMPLE_LOGS, LOGS
    at = tiny(at.run())
    at.button(key="train_start").click().run()
    poll(at, lambda a: val_points(a) >= 1)
    assert f"on **{ui.SAMPLE_LOGS}**" in progress_text(at)
    assert (
        len(plotly_spec(at, "train_chart")["layout"]["shapes"]) == 2
    )  # the counted bigram, uniform guessing
    at.button(key="train_stop").click().run()
    poll(at, lambda a: "stopped" in progress_text(a))
    saved = sorted(runs_dir.glob("*.safetensors"))
    assert len(saved) == 2
    for path in saved:
        meta = read_metadata(path)
        assert meta["summary"]["dataset"] == ui.SAMPLE_LOGS and meta["vocab"] == "".join(sorted(set(LOGS)))

    # Back in lesson 1, the learner picks Tiny Shakespeare: the run's own text is still named, the
    # reference lines of the other text are left out, and the saved run cannot continue on it.
    at.session_state["dataset_name"], at.session_state["dataset_text"] = "other.txt", "To be, or not. " * 200
    at.run()
    assert not at.exception
    assert f"on **{ui.SAMPLE_LOGS}**" in progress_text(at)
    assert any(f"This run trains on **{ui.SAMPLE_LOGS}**" in i.value for i in at.info)
    assert not plotly_spec(at, "train_chart")["layout"].get("shapes")
    continues = [b for b in at.button if b.key.startswith("train_more_")]
    assert continues and all(b.disabled and ui.SAMPLE_LOGS in b.help for b in continues)


def test_a_checkpoint_trained_on_the_logs_works_in_every_lesson_that_loads_one(runs_dir, logs_checkpoint):
    path = str(shutil.copy(logs_checkpoint, runs_dir / logs_checkpoint.name))
    at = app_test("app.py", timeout=180).run()
    for page, key in [
        ("lessons/2_attention.py", "attn_ckpt"),
        ("lessons/5_inside.py", "inside_checkpoint"),
        ("lessons/6_generate.py", "generate_checkpoint"),
        ("lessons/7_beyond.py", "beyond_ckpt"),
    ]:
        at.switch_page(page).run()
        at.selectbox(key=key).set_value(path).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        if page != "lessons/7_beyond.py":  # their Shakespeare prompts hold characters the log lacks
            assert any("vocabulary" in w.value for w in at.warning), page
        if page == "lessons/6_generate.py":
            at.button(key="generate_go").click().run()
            assert not at.exception
            written = at.session_state["generate_result"]["text"]
            assert len(written) > 100 and set(written) - set("ROMEO:\n") <= set(LOGS)
