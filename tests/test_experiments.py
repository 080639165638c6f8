"""The extensions' experiments (course.experiments) and their shipped table (course.experiment_table):
fair budgets, one tokenized text per model, a run through the race's machinery, and the verdicts."""

from __future__ import annotations

import json
import math

import pytest
from conftest import generated_text

from course import experiment_table, experiments, runs
from course.experiment_table import Result, difference, summarize
from course.experiments import BASELINE, SWITCHES, make_experiment
from course.plan import TrainingData

TEXT = generated_text(60_000)
BASE_CHARS = 24 * 64  # the cpu recipe's rows x context


def chars_per_step(spec, kind) -> float:
    arm = spec.arms[kind]
    return arm.train.batch_size * arm.config.block_size * arm.chars_per_token


def test_every_switch_changes_what_it_says_and_nothing_else():
    for name, switch in SWITCHES.items():
        spec = make_experiment(name, TEXT, 3 * BASE_CHARS)
        base, other = spec.arms[BASELINE], spec.arms[name]
        changed = {
            f for f in base.config.__dataclass_fields__ if getattr(base.config, f) != getattr(other.config, f)
        }
        assert changed - {"vocab_size"} == set(switch.gpt), name
        assert spec.steps == 3 and base.train.max_steps == other.train.max_steps == 3
        assert base.train.seed == other.train.seed


def test_both_models_read_about_the_same_characters_per_step():
    for name in ("bpe", "word", "context", "tie_weights"):
        spec = make_experiment(name, TEXT, 10 * BASE_CHARS)
        base, other = chars_per_step(spec, BASELINE), chars_per_step(spec, name)
        assert base == BASE_CHARS
        rows = spec.arms[name].train.batch_size
        assert abs(other - base) <= base / rows / 2 + 1, name  # rounded to whole rows


def test_a_longer_context_or_longer_tokens_get_fewer_rows():
    assert make_experiment("context", TEXT, BASE_CHARS).arms["context"].train.batch_size == 12
    bpe = make_experiment("bpe", TEXT, BASE_CHARS).arms["bpe"]
    assert bpe.chars_per_token > 1.5 and bpe.train.batch_size < 24


def test_each_model_trains_on_its_own_tokens_of_the_same_characters():
    spec = make_experiment("bpe", TEXT, BASE_CHARS)
    data = TrainingData.from_text(TEXT)
    assert spec.data_for(BASELINE, data).splits.val.tolist() == data.splits.val.tolist()
    bpe = spec.data_for("bpe", data)
    assert bpe.tokenizer.vocab_size == spec.arms["bpe"].config.vocab_size
    assert len(bpe.splits.val) < len(data.splits.val)
    assert bpe.tokenizer.decode(bpe.splits.val.tolist()) == data.tokenizer.decode(data.splits.val.tolist())


def test_unknown_switch_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="rmsnorm"):
        make_experiment("flux-capacitor", TEXT, BASE_CHARS)


def test_an_experiment_runs_like_a_race_and_reports_bits_per_character(runs_dir):
    spec = make_experiment("rmsnorm", TEXT, 4 * BASE_CHARS)
    registry = runs.RunRegistry(max_runs=1)
    run = registry.start(spec, TrainingData.from_text(TEXT, "generated"), runs_dir)
    assert run.wait(120)
    view = run.view()
    assert view.status == runs.FINISHED, view.error
    for kind in (BASELINE, "rmsnorm"):
        trace = view.models[kind]
        assert trace.steps[-1] == 4 and trace.rates
        last = trace.evals[-1]
        assert last["val_bpc"] == pytest.approx(last["val_loss"] / 0.6931471805599453, rel=1e-6)
    assert {p.name for p in run.checkpoints()} == {
        f"{view.name}-{BASELINE}.safetensors",
        f"{view.name}-rmsnorm.safetensors",
    }


def result(switch, seed, bpc) -> Result:
    return Result(switch, seed, 1, 1, 1, 1.0, bpc, bpc, 1.0, 1, "")


def test_a_difference_within_the_seeds_noise_is_no_difference():
    assert difference([0.01, -0.01, 0.005])["verdict"] == "no difference at this scale"
    assert difference([-0.10, -0.11, -0.09])["verdict"] == "better"
    assert difference([0.10, 0.11, 0.09])["verdict"] == "worse"
    assert difference([0.1])["verdict"] == "one seed only: no verdict"


def test_summary_pairs_each_seed_with_the_baseline_of_that_seed():
    results = [
        result(BASELINE, 1, 2.0),
        result(BASELINE, 2, 2.2),
        result("bpe", 1, 1.9),
        result("bpe", 2, 2.1),
    ]
    rows = {r["switch"]: r for r in summarize(results)}
    assert rows["bpe"]["diff_mean"] == pytest.approx(-0.1) and rows["bpe"]["diff_spread"] == pytest.approx(0)
    assert rows["bpe"]["verdict"] == "better"  # paired: the seeds' own spread (0.14) does not hide it
    assert "verdict" not in rows[BASELINE]


def test_the_table_command_writes_its_table(tmp_path, data_path):
    out = tmp_path / "experiments.json"
    args = [
        "--switches",
        "tie_weights",
        "--seeds",
        "1",
        "2",
        "--chars",
        str(2 * BASE_CHARS),
        "--workers",
        "1",
        "--eval-iters",
        "4",
    ]
    assert experiment_table.main([*args, "--data", str(data_path), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["command"].startswith("python -m course.experiment_table --switches tie_weights")
    assert [r["switch"] for r in table["rows"]] == [BASELINE, "tie_weights"]
    assert len(table["results"]) == 4 and table["rows"][1]["seeds"] == 2
    assert experiment_table.load_table(out) == table


def test_the_shipped_table_has_every_switch_and_three_seeds():
    table = experiment_table.load_table()
    assert table is not None, "make it: python -m course.experiment_table --out checkpoints/experiments.json"
    rows = {r["switch"]: r for r in table["rows"]}
    assert set(rows) == {BASELINE, *experiments.SWITCHES}
    assert all(r["seeds"] == 3 for r in rows.values())
    assert table["command"].startswith("python -m course.experiment_table")


def test_a_word_model_pays_for_the_characters_its_unknown_token_hides():
    from tinygpt.tokenizers import make_tokenizer

    train_text, val_text = "aa b aa b aa", "aa c"
    words = make_tokenizer("word", train_text, 3)  # <unk>, "aa", " "
    # "c" is unknown: one character at the training text's frequency of "c" (absent: half a count)
    expected = -math.log2(0.5 / len(train_text)) / len(val_text)
    assert experiments.spelling_bpc(words, train_text, val_text) == pytest.approx(expected)
    for kind in ("char", "bpe"):
        assert experiments.spelling_bpc(make_tokenizer(kind, train_text, 260), train_text, val_text) == 0
    arm = make_experiment("word", TEXT, BASE_CHARS).arms["word"]
    assert arm.spelling_bpc > 0 and arm.bpc(1.0) == 1.0 + arm.spelling_bpc


def test_the_warmup_sentence_follows_the_numbers():
    from course.figures.experiments import warmup_sentence

    def table(cold: float) -> dict:
        rows = [
            ("post_norm", 0.07, 0.01),
            ("post_norm_no_warmup", cold, 0.01),
            ("pre_norm_no_warmup", 0.0, 0.01),
        ]
        return {"rows": [{"switch": s, "diff_mean": m, "diff_spread": d} for s, m, d in rows]}

    assert "does not show" in warmup_sentence(table(0.075))
    assert "shows even here" in warmup_sentence(table(0.30))
    assert warmup_sentence({"rows": []}) == ""


def test_the_docs_print_the_shipped_table():
    from pathlib import Path

    docs = (Path(__file__).parents[1] / "docs" / "experiments.md").read_text()
    table = experiment_table.load_table()
    assert table["command"] in docs.replace("\\\n    ", "")
    for row in table["rows"]:
        assert f"{row['val_bpc_mean']:.3f} ± {row['val_bpc_spread']:.3f}" in docs, row["switch"]


def test_the_sentence_weighs_a_run_against_the_table_only_in_the_same_setting():
    from course.figures.experiments import verdict
    from course.runs import ModelTrace, RunView

    def view(chars: int, stopped_at: int | None = None) -> RunView:
        spec = make_experiment("rmsnorm", TEXT, chars)
        steps = list(range(1, (stopped_at or spec.steps) + 1))
        traces = {
            kind: ModelTrace("gpt", 1, "", steps=steps, evals=[{"val_bpc": bpc, "val_loss": 0.0}])
            for kind, bpc in ((BASELINE, 2.60), ("rmsnorm", 2.50))
        }
        return RunView("id", "name", runs.FINISHED, None, spec, traces, 1.0)

    table = {
        "chars": 10 * BASE_CHARS,
        "rows": [{"switch": "rmsnorm", "diff_mean": -0.01, "diff_spread": 0.02}],
    }
    same = verdict(view(10 * BASE_CHARS), table)
    assert "0.100 lower (better)" in same and "larger than the seeds' noise (±0.040)" in same
    shorter = verdict(view(2 * BASE_CHARS), table)
    assert "need not last" in shorter and "noise" not in shorter
    assert "not this text" in verdict(view(10 * BASE_CHARS), table, same_text=False)
    stopped = verdict(view(10 * BASE_CHARS, stopped_at=3), table)
    assert f"after {3 * BASE_CHARS:,} training characters" in stopped and "need not last" in stopped
