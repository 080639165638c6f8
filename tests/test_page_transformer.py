"""The "Build the Transformer" lesson under AppTest: the shipped staircase at first visit, the rung
slider changing the diagram, numbers, sample and code, rung 7 from the shipped model, going back down,
a live climb in the background (polled with at.run(), since run_every never fires under AppTest),
the server's cap, and a missing results file explained instead of a traceback."""

from __future__ import annotations

import json
import time

import pytest
import streamlit as st
from conftest import app_test, decode_array, plotly_spec

from course import ladder, runs

PAGE = "lessons/3_transformer.py"


@pytest.fixture(autouse=True)
def clean(runs_dir):
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    runs.shared_registry().stop_all()
    st.cache_resource.clear()
    st.cache_data.clear()


def page():
    return app_test(PAGE, timeout=180).run()


def diagram(at) -> str:
    return at.get("graphviz_chart")[0].proto.spec


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def trace(at, key: str, name: str) -> dict:
    return next(t for t in plotly_spec(at, key)["data"] if t.get("name", "").startswith(name))


def test_the_shipped_staircase_shows_at_first_visit():
    at = page()
    assert not at.exception and not at.warning
    assert at.title[0].value == "Lesson 3 · Build the Transformer"
    ours = trace(at, "ladder_staircase", "this project: val")
    assert list(ours["x"]) == [
        "1 · bigram",
        "2 · one head",
        "3 · 4 heads",
        "4 · feed-forward",
        "5 · 3 blocks",
        "6 · LayerNorm",
    ]
    vals = decode_array(ours["y"])
    assert 2.3 < vals[0] < 2.6 and 1.9 < vals[-1] < 2.2
    assert decode_array(trace(at, "ladder_staircase", "the lecture")["y"]).tolist()[-1] == 1.48
    assert "star" in json.dumps(trace(at, "ladder_staircase", "shipped model"))
    assert "python -m tinygpt ladder" in " ".join(c.value for c in at.caption)


def test_the_rung_slider_changes_the_diagram_numbers_sample_and_code():
    at = page()
    first = (diagram(at), metrics(at)["parameters"], at.code[0].value, at.expander[0].label)
    assert first[1] == "4,225" and "65 × 65" in first[0]
    at.select_slider(key="ladder_rung").set_value(2).run()
    assert not at.exception
    assert "4 heads of 8" in diagram(at) and metrics(at)["parameters"] == "7,488"
    assert at.code[0].value != first[2]
    at.select_slider(key="ladder_rung").set_value(5).run()
    dot = diagram(at)
    assert "block × 3" in dot and dot.count("LayerNorm") == 3 and metrics(at)["parameters"] == "41,504"
    sources = " ".join(c.value for c in at.code)
    assert "self.ln_1 = make_norm(config)" in sources  # the real Block.__init__, from the library
    at.select_slider(key="ladder_rung").set_value(6).run()
    assert metrics(at)["val loss"] == "1.499" and metrics(at)["lecture's val"] == "1.48"
    assert "block × 4, dropout 0.1" in diagram(at)


def test_going_back_down_shows_what_the_model_cannot_do_without():
    at = page()
    assert at.segmented_control(key="ladder_removal").value == "no-residual"
    without = metrics(at)
    assert float(without["no residuals: val"]) > float(without["full model: val"]) + 0.3
    at.segmented_control(key="ladder_removal").set_value("no-pos").run()
    assert not at.exception and "no position emb.: val" in metrics(at)
    bars = next(t for t in plotly_spec(at, "ladder_descent")["data"] if t["type"] == "bar")
    assert decode_array(bars["marker"]["color"]).tolist()[1] == "#c2410c"  # the chosen bar highlighted


def poll(at, condition, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not condition(at):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)
        at.run()


def test_a_live_climb_fills_in_next_to_the_shipped_one_and_survives_a_rerun():
    at = page()
    at.selectbox(key="ladder_what").set_value("bigram")
    at.select_slider(key="ladder_steps").set_value(500).run()
    at.button(key="ladder_climb").click().run()
    assert not at.exception
    run_id = at.session_state["ladder_run_id"]
    assert runs.shared_registry().get(run_id).status in runs.ACTIVE or at.get("progress")

    def done(at) -> bool:
        return any("finished" in p.proto.text for p in at.get("progress"))

    poll(at, done)
    mine = trace(at, "ladder_climb_live", "your climb")
    assert list(mine["x"]) == ["1 · bigram"] and 2.3 < decode_array(mine["y"])[0] < 2.9
    assert trace(at, "ladder_climb_live", "this project at 500 steps")
    table = at.dataframe[0].value
    assert table["step"].tolist() == [500] and table["latest sample"].iloc[0]
    at.run()  # a rerun reattaches to the same run
    assert at.session_state["ladder_run_id"] == run_id and at.button(key="ladder_climb")


def test_a_shared_link_watches_and_the_servers_cap_is_explained(monkeypatch):
    registry = runs.RunRegistry(max_runs=1)
    monkeypatch.setattr(runs, "_shared", registry)
    at = page()
    at.selectbox(key="ladder_what").set_value("layernorm")
    at.select_slider(key="ladder_steps").set_value(5000).run()
    at.button(key="ladder_climb").click().run()
    assert at.button(key="ladder_climb_stop")  # training now: the button stops it
    at2 = app_test(PAGE, timeout=180)
    at2.query_params["climb"] = at.session_state["ladder_run_id"]  # a shared link: watched, not stoppable
    at2.run()
    assert at2.get("progress") and "ladder_climb_stop" not in [b.key for b in at2.button]
    at2.button(key="ladder_down").click().run()
    assert not at2.exception and "already training" in at2.warning[0].value
    registry.stop_all()


def test_a_missing_results_file_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(ladder, "RESULTS", tmp_path / "ladder.json")
    at = page()
    assert not at.exception
    assert (
        "cannot read ladder results" in at.warning[0].value
        and "python -m tinygpt ladder" in at.warning[0].value
    )


def test_a_damaged_results_file_is_explained(monkeypatch, tmp_path):
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps({"format": 1, "results": [{"rung": "head", "seed": 1}]}))
    monkeypatch.setattr(ladder, "RESULTS", path)
    at = page()
    assert not at.exception and "has a result without 'title'" in at.warning[0].value


def test_the_training_lesson_lists_a_climb_but_leaves_drawing_it_to_this_lesson(text):
    from course.plan import TrainingData
    from course.rungs import LadderSettings

    data = TrainingData.from_text(text, "Tiny Shakespeare")
    spec = ladder.LadderSpec(("head",), LadderSettings(max_steps=10**6, eval_iters=1), 65)
    run = runs.shared_registry().start(spec, data, "unused", owner="me")
    at = app_test("lessons/4_training.py", timeout=180).run()
    assert not at.exception
    assert f"train_watch_{run.id}" not in [b.key for b in at.button]
    assert "Lesson 3" in [c.value for c in at.caption]
