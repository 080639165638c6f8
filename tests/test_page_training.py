"""The training lesson under AppTest: the plan shown before starting, invalid settings explained,
a live run whose chart grows across reruns, stopping, reattaching after a reload, the server-wide
cap, and the saved runs. `run_every` never fires under AppTest, so tests poll with at.run()."""

from __future__ import annotations

import time

import pytest
from conftest import app_test, decode_array, plotly_spec

from course import plan, runs
from tinygpt.checkpoint import read_metadata

PAGE = "lessons/4_training.py"


pytestmark = pytest.mark.usefixtures("fresh_app")


def page(**state):
    at = app_test(PAGE, timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def tiny(at, steps: int = 100_000):
    """Switch to the tiny preset with a budget of `steps` steps."""
    at.selectbox(key="train_preset").set_value("tiny").run()
    assert at.radio(key="train_budget").value == "steps"  # the tiny preset counts steps
    at.number_input(key="train_max_steps").set_value(steps).run()
    return at


def val_points(at) -> int:
    """How many evaluations the Transformer's val curve shows."""
    trace = next(t for t in plotly_spec(at, "train_chart")["data"] if t.get("name") == "Transformer: val")
    return len(decode_array(trace["x"]))


def poll(at, condition, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while not condition(at):
        shown = [p.proto.text for p in at.get("progress")] + [e.value for e in at.error]
        assert time.monotonic() < deadline, f"timed out; the page shows {shown}"
        time.sleep(0.3)
        at.run()


def progress_text(at) -> str:
    return at.get("progress")[0].proto.text


def test_the_plan_is_shown_before_starting():
    at = page()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["model"]) == {"Bigram", "Transformer"}
    assert {"token embedding", "attention (all blocks)", "MLP (all blocks)", "LM head"} <= set(
        table["component"]
    )
    text = " ".join(m.value for m in at.markdown)
    assert "**Device:** CPU" in text and "**Time per step:** about" in text and "MiB" in text
    assert not at.button(key="train_start").disabled
    assert (
        at.segmented_control(key="train_what").value == "race"
        and at.selectbox(key="train_preset").value == "cpu"
    )


def test_the_page_names_the_optimizer_schedule_and_clipping_of_the_selected_preset():
    at = page()  # cpu: Muon for the blocks' matrices
    text = " ".join(m.value for m in at.markdown)
    assert "**With these settings (cpu):** Muon moves the blocks' weight matrices" in text
    assert "follows a cosine" in text and "clipped to an overall norm of at most 1" in text
    assert "**Muon** keeps a running average" in text
    assert any("_train_step" in c.value for c in at.code)  # the library's own step, beside the lecture's
    small = dict(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=4)  # quick to time on a CPU
    at = page(
        **{f"train_{k}": v for k, v in {**plan.widget_defaults("lecture-exact"), **small}.items()},
        train_preset="lecture-exact",
    )
    text = " ".join(m.value for m in at.markdown)
    assert "**With these settings (lecture-exact):** AdamW" in text and "moves every weight" in text
    assert "not clipped" in text and "fp32" in text and "Muon" not in text
    assert any("optimizer, schedule, clipping and precision are the lecture's" in c.value for c in at.caption)


def test_heads_that_do_not_divide_the_embedding_are_explained_and_block_start():
    at = page()
    at.number_input(key="train_n_embd").set_value(130).run()
    assert not at.exception
    assert "divisible" in at.error[0].value and "try n_embd 128 or 132" in at.error[0].value
    assert at.button(key="train_start").disabled


def test_a_block_longer_than_the_text_and_absurd_sizes_are_explained():
    at = page(dataset_name="tiny.txt", dataset_text="To be, or not to be.")
    assert not at.exception and "longer than the training text" in at.error[0].value
    at = page()
    for key, value in {
        "n_layer": 48,
        "n_head": 32,
        "n_embd": 4096,
        "batch_size": 4096,
        "block_size": 8192,
    }.items():
        at.number_input(key=f"train_{key}").set_value(value)
    at.run()
    assert not at.exception and "GiB" in at.error[0].value
    assert at.button(key="train_start").disabled


def test_a_run_starts_its_chart_grows_it_stops_and_is_saved(runs_dir):
    at = tiny(page())
    at.button(key="train_start").click().run()
    assert not at.exception
    poll(at, lambda a: val_points(a) >= 2)
    first = val_points(at)
    poll(at, lambda a: val_points(a) > first)  # the same page, rerun later, shows more history
    assert "running" in progress_text(at)
    at.button(key="train_stop").click().run()
    poll(at, lambda a: "stopped" in progress_text(a))
    assert not at.exception
    assert "Saved:" in at.success[0].value
    saved = sorted(p.name for p in runs_dir.glob("*.safetensors"))
    assert len(saved) == 2 and all(name in at.success[0].value for name in saved)
    assert len(at.get("download_button")) == 2
    assert at.button(key="train_start") is not None  # free to start another


def test_a_reload_reattaches_through_the_url_and_the_run_goes_on():
    at = tiny(page())
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run_id"]
    assert at.query_params["run"] in (run_id, [run_id])  # the id is in the URL
    reloaded = app_test(PAGE, timeout=180)
    reloaded.query_params["run"] = run_id  # a fresh session: only the URL remembers the run
    reloaded.run()
    assert not reloaded.exception
    job = runs.shared_registry().get(run_id)
    assert job.name in progress_text(reloaded) and job.status == runs.RUNNING
    # a reload is a new browser session: it watches, and only the session that started the run stops it
    with pytest.raises(KeyError):
        reloaded.button(key="train_stop")
    at.button(key="train_stop").click().run()
    assert job.wait(60) and job.status == runs.STOPPED


def test_other_runs_are_listed_and_can_be_watched_but_not_stopped():
    owner = tiny(page())
    owner.button(key="train_start").click().run()
    run_id = owner.session_state["train_run_id"]
    other = page()
    other.button(key=f"train_watch_{run_id}").click().run()
    assert not other.exception
    assert "another browser session" in " ".join(c.value for c in other.caption)
    assert runs.shared_registry().get(run_id).name in progress_text(other)
    with pytest.raises(KeyError):
        other.button(key="train_stop")


def test_over_the_server_cap_a_second_user_gets_a_clear_message():
    registry = runs.shared_registry()
    cap, registry.max_runs = registry.max_runs, 1
    try:
        first = tiny(page())
        first.button(key="train_start").click().run()
        second = tiny(page())
        second.button(key="train_start").click().run()
        assert not second.exception
        assert "limit" in second.warning[0].value
        assert len(registry.running()) == 1
    finally:
        registry.max_runs = cap


def test_a_saved_run_can_be_deleted(runs_dir):
    at = tiny(page(), steps=20)
    at.button(key="train_start").click().run()
    poll(at, lambda a: "finished" in progress_text(a))
    path = next(runs_dir.glob("*-gpt.safetensors"))
    at.run()
    at.button(key=f"train_del_{path.name}").click().run()
    assert not at.exception and not path.exists()
    assert len(list(runs_dir.glob("*.safetensors"))) == 1


def test_a_widget_change_and_a_page_switch_keep_the_run_and_the_settings():
    at = app_test("app.py", timeout=180)
    at.switch_page(PAGE).run()
    tiny(at)
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run_id"]
    at.number_input(key="train_n_layer").set_value(3).run()  # a widget change reruns the page...
    job = runs.shared_registry().get(run_id)
    assert job.status == runs.RUNNING and job.name in progress_text(at)  # ...and the run goes on
    at.switch_page("lessons/6_generate.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert job.status == runs.RUNNING and job.name in progress_text(at)
    assert (
        at.selectbox(key="train_preset").value == "tiny" and at.number_input(key="train_n_layer").value == 3
    )
    at.button(key="train_stop").click().run()
    assert job.wait(60) and job.status == runs.STOPPED


def test_a_failing_run_shows_its_message_and_the_page_keeps_working(runs_dir):
    short = plan.TrainingData.from_text("to be or not to be, " * 3, "short")
    spec = plan.make_spec(("gpt",), short.tokenizer.vocab_size, "tiny", block_size=64)
    job = runs.shared_registry().start(
        spec, short, runs_dir
    )  # the page would refuse it; a job must still report
    assert job.wait(60)
    at = app_test(PAGE, timeout=180)
    at.query_params["run"] = job.id
    at.run()
    assert not at.exception
    assert "failed" in progress_text(at)
    assert (
        at.error[0].value.startswith("Training stopped with an error") and "block_size" in at.error[0].value
    )
    assert not at.button(key="train_start").disabled  # free to try again


def test_a_saved_run_can_be_continued_from_the_page(runs_dir):
    at = tiny(page(), steps=20)
    at.button(key="train_start").click().run()
    poll(at, lambda a: "finished" in progress_text(a))
    path = next(runs_dir.glob("*-gpt.safetensors"))
    at.run()
    at.button(key=f"train_more_{path.name}").click().run()
    assert not at.exception
    run = runs.shared_registry().get(at.session_state["train_run_id"])
    assert isinstance(run.spec, plan.ContinuedSpec) and run.checkpoints() == [path]
    poll(at, lambda a: "finished" in progress_text(a))
    assert read_metadata(path)["summary"]["steps"] == 40


def test_a_diverging_run_shows_why_and_its_curve(runs_dir):
    at = tiny(page(), steps=500)
    at.number_input(key="train_learning_rate").set_value(1.0).run()
    at.segmented_control(key="train_what").set_value("gpt").run()
    at.button(key="train_start").click().run()
    poll(at, lambda a: "failed" in progress_text(a))
    assert not at.exception
    assert at.error[0].value.startswith("Training diverged at step") and "learning rate" in at.error[0].value
    assert len(plotly_spec(at, "train_chart")["data"]) >= 3  # the curve up to that point
