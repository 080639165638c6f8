"""The extensions lesson under AppTest: the shipped table, a switch's plan, and a live experiment
whose two bits-per-character curves grow and end with a sentence on the difference."""

from __future__ import annotations

import time

import pytest
from conftest import app_test, decode_array, plotly_spec

from course import runs

PAGE = "lessons/9_experiments.py"


pytestmark = pytest.mark.usefixtures("fresh_app")


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def plan_rows(at) -> dict:
    table = next(d.value for d in at.dataframe if "vocabulary" in d.value.columns)
    return {row["model"]: row for row in table.to_dict("records")}


def test_the_page_shows_the_table_and_each_switch_changes_the_plan():
    at = app_test(PAGE, timeout=120).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="experiment_switch").value == "bpe"
    bpe = plan_rows(at)
    assert (
        bpe["Baseline"]["vocabulary"] == 65 and bpe["Byte-pair tokens (vocabulary 512)"]["vocabulary"] == 512
    )
    at.selectbox(key="experiment_switch").set_value("context").run()
    context = plan_rows(at)["Context of 128 characters (baseline 64)"]
    assert context["context (tokens)"] == 128 and context["rows per batch"] == 12
    at.slider(key="experiment_chars").set_value(1_200_000).run()
    assert plan_rows(at)["Baseline"]["steps"] == 781
    assert not at.exception


def test_an_experiment_trains_both_models_and_compares_them(text):
    at = app_test(PAGE, timeout=120).run()
    at.selectbox(key="experiment_switch").set_value("tie_weights").run()
    at.slider(key="experiment_chars").set_value(50_000).run()  # 33 steps each
    at.button(key="experiment_start").click().run()
    deadline = time.monotonic() + 240
    while runs.shared_registry().running() or "Tied embeddings is at" not in markdown(at):
        assert time.monotonic() < deadline, "the experiment did not finish"
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error
    traces = plotly_spec(at, "experiment_chart")["data"]
    assert [t["name"] for t in traces] == ["Baseline", "Tied embeddings"]
    assert all(len(decode_array(t["y"])) >= 2 for t in traces)
    assert "than the baseline's" in markdown(at)
