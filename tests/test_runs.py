"""Background training runs (course.runs) and run planning (course.plan), on the `tiny` preset:
races, stops, the cap, owners, the cores shared among runs, saves at each evaluation that survive
a killed server, and a runs folder that cannot be written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from course import plan, priority, runs, saved_runs
from tinygpt import device
from tinygpt.checkpoint import load_checkpoint, read_metadata
from tinygpt.device import training_threads
from tinygpt.models import build_model, count_parameters


@pytest.fixture(scope="module")
def data(text) -> plan.TrainingData:
    """Enough text for the tiny preset; the whole of it only where the point is the real text."""
    return plan.TrainingData.from_text(text[:100_000], "test text")


@pytest.fixture(scope="module")
def full_data(text) -> plan.TrainingData:
    return plan.TrainingData.from_text(text, "test text")


def tiny_spec(data, models=plan.RACE, **values) -> plan.RunSpec:
    values = {"max_steps": 30, "eval_interval": 10, "device": "cpu", **values}
    return plan.make_spec(models, data.tokenizer.vocab_size, "tiny", **values)


@pytest.fixture
def registry():
    reg = runs.RunRegistry(max_runs=2)
    yield reg
    reg.stop_all()


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_race_trains_both_models_records_history_and_saves(registry, data, runs_dir):
    job = registry.start(tiny_spec(data), data, runs_dir)
    assert job.wait(120)
    view = job.view()
    assert view.status == runs.FINISHED and view.error is None and view.progress == 1.0
    assert set(view.models) == {"bigram", "gpt"}
    for kind, trace in view.models.items():
        assert trace.steps == list(range(1, 31))
        assert len(trace.losses) == len(trace.times) == 30
        assert [e["step"] for e in trace.evals] == [10, 20, 30]
        assert [s for s, _ in trace.samples] == [10, 20, 30] and all(t for _, t in trace.samples)
        ckpt = load_checkpoint(trace.checkpoint)
        assert ckpt.model_type == kind and trace.saved
        assert ckpt.summary["steps"] == 30 and len(ckpt.summary["history"]) == 3
        assert ckpt.summary["run_id"] == job.id and ckpt.summary["dataset"] == "test text"
        assert trace.n_params == count_parameters(ckpt.model)
    assert sorted(p.name for p, _ in saved_runs.saved_runs(runs_dir)) == sorted(
        f"{job.name}-{k}.safetensors" for k in ("bigram", "gpt")
    )


@pytest.mark.real_worker
def test_racing_trains_each_model_exactly_as_alone(registry, data, runs_dir):
    """The lockstep race changes nothing for either model: same init, batches and updates."""
    race = registry.start(tiny_spec(data, max_steps=12), data, runs_dir)
    race.wait(120)
    for kind in plan.RACE:
        alone = registry.start(tiny_spec(data, (kind,), max_steps=12), data, runs_dir)
        alone.wait(120)
        assert alone.view().models[kind].losses == pytest.approx(race.view().models[kind].losses)


def test_stop_ends_within_one_step_evaluates_and_saves(registry, data, runs_dir):
    # steps long enough (batch 256) that the worker is not steps ahead of what the server has read
    job = registry.start(
        tiny_spec(data, max_steps=1_000_000, eval_interval=1000, batch_size=256), data, runs_dir
    )
    wait_for(lambda: job.view().step >= 5)
    job.stop()
    asked_at = job.view().step  # at least the step count when the request was made
    assert job.status in (runs.STOPPING, runs.STOPPED)
    assert job.wait(60)
    view = job.view()
    assert view.status == runs.STOPPED and not view.active and view.progress < 0.01
    assert len({len(t.steps) for t in view.models.values()}) == 1  # both models end at the same step
    for trace in view.models.values():
        assert len(trace.steps) <= asked_at + 2  # the step under way when asked, and one in the pipe
        assert trace.evals[-1]["step"] == len(trace.steps)  # evaluated at the stop
        assert load_checkpoint(trace.checkpoint).summary["steps"] == len(trace.steps)


def test_the_cap_refuses_a_job_over_the_limit_with_a_clear_error(data, runs_dir):
    reg = runs.RunRegistry(max_runs=1)
    first = reg.start(tiny_spec(data, max_steps=1_000_000), data, runs_dir)
    try:
        with pytest.raises(runs.TooManyRuns, match="limit"):
            reg.start(tiny_spec(data), data, runs_dir)
        assert reg.running() == [first]
    finally:
        first.stop()
        first.wait(60)
    second = reg.start(tiny_spec(data, max_steps=5), data, runs_dir)  # room again once it ended
    assert second.wait(60) and second.status == runs.FINISHED


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TINYGPT_MAX_RUNS", "3")
    assert runs.configured_max_runs() == 3 and runs.RunRegistry().max_runs == 3
    monkeypatch.delenv("TINYGPT_MAX_RUNS")
    assert runs.configured_max_runs() == runs.default_max_runs()


def test_a_failing_run_ends_failed_with_its_message(registry, data, runs_dir):
    short = plan.TrainingData.from_text("to be or not to be, " * 3, "short")  # 54 training characters
    spec = plan.make_spec(("gpt",), short.tokenizer.vocab_size, "tiny", block_size=64, device="cpu")
    assert any("longer than the training text" in p for p in plan.check_spec(spec, short))
    job = registry.start(spec, short, runs_dir)  # started anyway: the job must report, not die silently
    assert job.wait(60)
    view = job.view()
    assert view.status == runs.FAILED and not view.active
    assert "must be longer than block_size" in view.error and view.error.startswith("Training stopped")
    assert registry.running() == []


def test_out_of_memory_gets_advice():
    message = runs.failure_message(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert "ran out of memory" in message and "batch size" in message


def test_reattach_by_id_and_keep_only_recent_ended_jobs(data, runs_dir):
    reg = runs.RunRegistry(max_runs=2, keep=1)
    first = reg.start(tiny_spec(data, max_steps=5), data, runs_dir)
    first.wait(60)
    assert reg.get(first.id) is first and reg.get("nope") is None and reg.get(None) is None
    assert reg.get(first.id).view().models["gpt"].steps == first.view().models["gpt"].steps
    second = reg.start(tiny_spec(data, max_steps=5), data, runs_dir)
    second.wait(60)
    third = reg.start(tiny_spec(data, max_steps=5), data, runs_dir)
    third.wait(60)
    assert reg.get(first.id) is None  # the oldest ended job is forgotten; its files stay
    assert reg.runs()[0] is third and reg.get(second.id) is second


def test_shared_registry_is_one_per_process():
    assert runs.shared_registry() is runs.shared_registry()


def test_saved_runs_can_be_deleted_but_not_while_training_or_outside_the_folder(
    registry, data, runs_dir, tmp_path
):
    job = registry.start(
        tiny_spec(data, models=("bigram",), max_steps=1_000_000, eval_interval=5), data, runs_dir
    )
    wait_for(lambda: job.view().models["bigram"].saved)
    path = job.checkpoints()[0]
    with pytest.raises(ValueError, match="stop it first"):
        saved_runs.delete_saved_run(path, runs_dir, registry.busy_paths())
    job.stop()
    job.wait(60)
    outside = tmp_path / "other.safetensors"
    outside.write_bytes(b"x")
    with pytest.raises(ValueError, match="not one of the saved runs"):
        saved_runs.delete_saved_run(outside, runs_dir)
    saved_runs.delete_saved_run(path, runs_dir, registry.busy_paths())
    assert not path.exists() and outside.exists()


# ---- a server shared by many viewers ----------------------------------------------------------


def test_anyone_may_watch_a_run_but_only_its_owner_stops_it_or_deletes_its_files(registry, data, runs_dir):
    run = registry.start(
        tiny_spec(data, ("bigram",), max_steps=1_000_000, eval_interval=5), data, runs_dir, owner="ann"
    )
    wait_for(lambda: run.view().models["bigram"].saved)
    assert registry.get(run.id) is run and run.view().step > 0  # a viewer with the id can watch
    assert registry.can_control(run.id, "ann")
    assert not registry.can_control(run.id, "bob") and not registry.can_control(run.id, None)
    assert not registry.can_control("no-such-run", "ann")
    with pytest.raises(saved_runs.NotYourRun, match="can watch"):
        registry.stop(run.id, "bob")
    assert run.status == runs.RUNNING
    registry.stop(run.id, "ann")
    assert run.wait(60) and run.status == runs.STOPPED
    path = run.checkpoints()[0]
    assert "ann" not in path.read_bytes()[:4096].decode("latin-1")  # the file keeps a digest, not the token
    with pytest.raises(saved_runs.NotYourRun, match="another viewer"):
        saved_runs.delete_saved_run(path, runs_dir, owner="bob")
    saved_runs.delete_saved_run(path, runs_dir, owner="ann")
    assert not path.exists()


def test_a_checkpoint_without_an_owner_may_be_deleted_by_anyone(tiny_checkpoint, runs_dir):
    copy = runs_dir / "from-the-cli.safetensors"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    assert saved_runs.owns_saved(read_metadata(copy), "bob")
    saved_runs.delete_saved_run(copy, runs_dir, owner="bob")
    assert not copy.exists()


def test_the_default_cap_follows_the_memory_too():
    """Each run trains in a worker of about 0.4 GB: a Cloud app (2 cores, 2.7 GB) runs two at once,
    a 1.5 GB box one, and a box too small for even one still allows one."""
    assert runs.default_max_runs(2, 2765) == 2
    assert runs.default_max_runs(2, 1536) == 1
    assert runs.default_max_runs(2, 700) == 1
    assert runs.default_max_runs(16, 3000) == 3 and runs.default_max_runs(16, 64_000) == 4


def test_the_default_cap_follows_the_cores(monkeypatch):
    monkeypatch.delenv("TINYGPT_MAX_RUNS", raising=False)
    assert [runs.default_max_runs(n) for n in (1, 2, 3, 4, 16)] == [1, 2, 2, 3, 4]
    monkeypatch.setattr(device, "available_cores", lambda: 1)
    assert runs.configured_max_runs() == 1
    monkeypatch.setenv("TINYGPT_MAX_RUNS", "lots")  # a typo in a deploy's settings: the default, not a crash
    assert runs.configured_max_runs() == 1


def test_running_runs_share_the_cores_instead_of_fighting_for_them(registry, data, runs_dir, monkeypatch):
    """On 2 cores one run trains on 2 threads; while a second runs, each has 1; then 2 again."""
    monkeypatch.delenv("TINYGPT_THREADS", raising=False)
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    first = registry.start(tiny_spec(data, ("bigram",), max_steps=1_000_000), data, runs_dir)
    wait_for(lambda: first.view().threads == 2)
    second = registry.start(tiny_spec(data, ("bigram",), max_steps=1_000_000), data, runs_dir)
    wait_for(lambda: first.view().threads == 1 and second.view().threads == 1)
    second.stop()
    second.wait(60)
    wait_for(lambda: first.view().threads == 2)
    monkeypatch.setenv("TINYGPT_THREADS", "1")  # the override wins
    wait_for(lambda: first.view().threads == 1)


def niceness_of_threads(pid: int | str = "self") -> dict[int, int]:
    """Each thread of a process, by its native id, with its nice value (Linux's /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    return {int(t.name): os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in tasks.iterdir()}


@pytest.mark.real_worker
@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_runs_train_in_a_process_of_their_own_at_a_lower_priority(registry, data, runs_dir, monkeypatch):
    """A page's rerun must not wait behind training: the run trains in a worker process (it takes
    no share of the server's GIL) at nice 10, torch's threads there too; the server keeps its priority."""
    monkeypatch.delenv("TINYGPT_THREADS", raising=False)
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    run = registry.start(tiny_spec(data, ("gpt",), max_steps=1_000_000), data, runs_dir)
    wait_for(lambda: len(run.view().models["gpt"].steps) > 3 and run.view().threads == 2)
    assert run.worker_pid not in (None, os.getpid())
    niceness = niceness_of_threads(run.worker_pid)
    assert niceness[run.worker_pid] == priority.RUN_NICENESS
    background = [tid for tid, nice in niceness.items() if nice == priority.RUN_NICENESS]
    assert len(background) >= 2, "the worker's torch thread did not inherit its priority"
    assert niceness_of_threads()[threading.get_native_id()] == ours


@pytest.mark.real_worker
def test_a_killed_worker_fails_its_run_with_the_likely_cause_and_the_server_goes_on(registry, data, runs_dir):
    run = registry.start(tiny_spec(data, ("bigram",), max_steps=1_000_000), data, runs_dir)
    wait_for(lambda: run.view().step > 3)
    os.kill(run.worker_pid, signal.SIGKILL)  # what the kernel does to a process that ran out of memory
    assert run.wait(60)
    view = run.view()
    assert view.status == runs.FAILED and "killed" in view.error and "out of memory" in view.error
    assert view.models["bigram"].steps and registry.running() == []  # the curve so far stays
    again = registry.start(tiny_spec(data, ("bigram",), max_steps=5), data, runs_dir)
    assert again.wait(60) and again.status == runs.FINISHED


@pytest.mark.real_worker
def test_a_worker_does_not_run_the_page_that_started_it(registry, data, runs_dir, tmp_path, monkeypatch):
    """Streamlit runs each page as __main__ and leaves it there; multiprocessing would run __main__
    again in a new worker, so a run started from a page would first run that page."""
    page, ran = tmp_path / "page.py", tmp_path / "the page ran"
    page.write_text(f"open({str(ran)!r}, 'w').close()\n")
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    sys.modules["__main__"].__file__ = str(page)
    run = registry.start(tiny_spec(data, ("bigram",), max_steps=5), data, runs_dir)
    assert run.wait(60) and run.status == runs.FINISHED, run.view().error
    assert not ran.exists() and run.worker_pid not in (None, os.getpid())


def process_is_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X"))
    except OSError:
        return True


# ---- nothing lost -------------------------------------------------------------------------------


def test_each_save_says_whether_the_run_was_still_going(registry, data, runs_dir):
    finished = registry.start(tiny_spec(data, max_steps=20, eval_interval=5), data, runs_dir)
    assert finished.wait(120)
    stopped = registry.start(tiny_spec(data, ("gpt",), max_steps=1_000_000, eval_interval=5), data, runs_dir)
    wait_for(lambda: stopped.view().models["gpt"].saved_step >= 5)
    on_disk = read_metadata(stopped.checkpoints()[0])["summary"]
    assert on_disk["status"] == runs.RUNNING and on_disk["steps"] >= 5
    assert [r.run_id for r in saved_runs.interrupted_runs(runs_dir)] == [
        stopped.id
    ]  # as a restart would see it
    assert registry.interrupted(runs_dir) == []  # this server is still writing it
    stopped.stop()
    stopped.wait(60)
    for run, status in ((finished, runs.FINISHED), (stopped, runs.STOPPED)):
        for path in run.checkpoints():
            assert read_metadata(path)["summary"]["status"] == status
    assert saved_runs.interrupted_runs(runs_dir) == []


@pytest.mark.real_worker
def test_after_a_killed_server_its_runs_are_listed_with_their_last_saved_step(data, runs_dir, text):
    """A real restart: a server process that trains a race and dies (os._exit, as a killed process
    would) between two evaluations; a new process finds the run and the step of its last save."""
    script = textwrap.dedent(
        f"""
        import os, time
        from course import plan, runs
        data = plan.TrainingData.from_text(open({str(os.environ["TINYGPT_DATA"])!r}).read(), "test text")
        spec = plan.make_spec(plan.RACE, data.tokenizer.vocab_size, "tiny", max_steps=1_000_000,
                              eval_interval=20, device="cpu")
        run = runs.shared_registry().start(spec, data, {str(runs_dir)!r}, owner="ann")
        while min(t.saved_step for t in run.view().models.values()) < 40:
            time.sleep(0.01)
        print(run.id, run.worker_pid, flush=True)
        os._exit(0)
        """
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    run_id, worker = out.stdout.split()[-2], int(out.stdout.split()[-1])
    wait_for(lambda: process_is_gone(worker), 30)  # its worker ends with it
    [found] = runs.RunRegistry().interrupted(runs_dir)
    assert found.run_id == run_id and found.name.startswith("race-tiny-")
    assert found.step >= 40 and found.step % 20 == 0  # at most one evaluation interval lost
    assert sorted(p.name for p in found.paths) == [
        f"{found.name}-bigram.safetensors",
        f"{found.name}-gpt.safetensors",
    ]
    for path in found.paths:
        assert load_checkpoint(path).summary["steps"] >= found.step  # the weights are there to use


@pytest.fixture
def unwritable_folder(tmp_path) -> Path:
    """A folder that refuses new files, for root too: chmod does not stop root, so then /sys."""
    if os.geteuid() != 0:
        tmp_path.chmod(0o555)
        yield tmp_path
        tmp_path.chmod(0o755)
        return
    try:
        os.close(os.open("/sys/tinygpt-probe", os.O_CREAT | os.O_WRONLY))
    except OSError:
        yield Path("/sys")
    else:
        os.unlink("/sys/tinygpt-probe")
        pytest.skip("no read-only folder on this machine")


def test_a_run_that_cannot_save_keeps_training_and_says_why(registry, data, unwritable_folder):
    run = registry.start(tiny_spec(data, max_steps=20, eval_interval=5), data, unwritable_folder)
    assert run.wait(120)
    view = run.view()
    assert view.status == runs.FINISHED and view.error is None
    assert all(len(t.steps) == 20 and not t.saved and t.save_error for t in view.models.values())
    assert str(unwritable_folder) in view.save_problem and "keeps training in memory" in view.save_problem
    assert "TINYGPT_RUNS_DIR" in view.save_problem
    assert saved_runs.saved_runs(unwritable_folder) == []


# ---- planning -------------------------------------------------------------------------------------


def test_heads_must_divide_the_embedding_and_the_message_says_what_works(data):
    with pytest.raises(plan.SpecError) as e:
        plan.make_spec(plan.RACE, 65, "cpu", n_embd=130, n_head=4, batch_size=0)
    assert any("divisible" in p and "try n_embd 128 or 132" in p for p in e.value.problems)
    assert any("batch_size must be at least 1" in p for p in e.value.problems)


def test_gpt_settings_do_not_block_a_bigram_only_run():
    spec = plan.make_spec(("bigram",), 65, "cpu", n_embd=130, n_head=4, block_size=16)
    assert spec.models == ("bigram",) and spec.block_size == 16 and spec.gpt.n_embd == 128


def test_absurd_sizes_are_refused_before_any_memory_is_used(data):
    spec = plan.make_spec(
        plan.RACE, 65, "cpu", n_layer=48, n_embd=4096, n_head=32, block_size=4096, batch_size=512
    )
    problems = plan.check_spec(spec, data, "cpu")
    assert any("GiB" in p and "lower the batch size" in p for p in problems)
    assert plan.check_spec(tiny_spec(data), data, "cpu") == []


@pytest.mark.parametrize("bias", [False, True])
def test_parameter_count_without_building_matches_the_model(bias):
    spec = plan.make_spec(plan.RACE, 65, "cpu", bias=bias)
    for kind in plan.RACE:
        model = build_model(kind, spec.model_config(kind))
        assert plan.count_parameters_of(kind, spec) == count_parameters(model)
        table = plan.parameter_table(model)
        assert sum(row["parameters"] for row in table) == count_parameters(model)
        assert abs(sum(row["share"] for row in table) - 1) < 1e-9
    components = {row["component"] for row in plan.parameter_table(build_model("gpt", spec.gpt))}
    assert components == {
        "token embedding",
        "position embedding",
        "attention (all blocks)",
        "MLP (all blocks)",
        "layer norms",
        "LM head",
    }


def test_memory_estimate_covers_a_real_step():
    spec = plan.make_spec(("gpt",), 65, "cpu", batch_size=8)
    model = build_model("gpt", spec.gpt)
    weights_and_adam = 16 * count_parameters(model)
    assert plan.estimate_memory(spec) > weights_and_adam


def test_bigram_floor_is_the_best_a_bigram_does(full_data, is_real_shakespeare, registry, runs_dir):
    data = full_data
    floor = plan.bigram_floor(data)
    if is_real_shakespeare:
        assert 2.40 < floor < 2.55  # the lecture's bigram plateaus near 2.5
    job = registry.start(
        tiny_spec(data, ("bigram",), max_steps=300, eval_interval=300, eval_iters=20), data, runs_dir
    )
    job.wait(120)
    assert job.view().models["bigram"].evals[-1]["val_loss"] > floor - 0.05


def test_training_threads_leave_a_core_for_the_server_on_bigger_machines(monkeypatch):
    monkeypatch.delenv("TINYGPT_THREADS", raising=False)
    assert [training_threads(n) for n in (1, 2, 3, 8)] == [1, 2, 2, 7]
    monkeypatch.setenv("TINYGPT_THREADS", "5")
    assert training_threads(8) == 5


def test_presets_come_with_training_settings():
    for name in ("cpu", "lecture", "tiny"):
        d = plan.preset_defaults(name)
        assert d["n_embd"] % d["n_head"] == 0 and (d["max_steps"] or d["max_seconds"])
    with pytest.raises(ValueError, match="unknown preset"):
        plan.preset_defaults("huge")


def test_a_step_too_slow_for_the_device_is_refused_before_it_is_timed(data):
    """A model whose one step would take minutes here is refused with the reason, so the page never
    builds and times it (that would hold the server for minutes)."""
    spec = plan.make_spec(plan.RACE, data.tokenizer.vocab_size, "cpu", n_embd=4096)
    problems = plan.check_spec(spec, data, "cpu")
    assert any("one training step would take about" in p and "lower the batch size" in p for p in problems)
    assert plan.check_spec(plan.make_spec(("gpt",), data.tokenizer.vocab_size, "lecture"), data, "cpu") == []


@pytest.mark.real_worker
@pytest.mark.parametrize("models", [("gpt",), ("bigram",)])
def test_a_saved_run_continues_where_it_stopped_into_the_same_file(registry, data, tmp_path, models):
    first = registry.start(
        tiny_spec(data, models, max_steps=20, eval_interval=10), data, tmp_path, owner="me"
    )
    assert first.wait(120) and first.status == runs.FINISHED
    path = first.checkpoints()[0]
    spec = plan.continued_spec(path, data)
    assert spec.models == models and spec.train.max_steps == 20  # as long again, counted from now
    more = registry.start(spec, data, tmp_path, owner="me")
    assert more.wait(120) and more.status == runs.FINISHED, more.view().error
    trace = more.view().models[models[0]]
    assert trace.steps[0] == 21 and trace.steps[-1] == 40 and more.view().progress == 1.0
    after = read_metadata(path)["summary"]
    assert after["steps"] == 40 and [h["step"] for h in after["history"]] == [10, 20, 30, 40]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the same file, nothing else


def test_a_run_on_another_text_or_without_its_state_cannot_continue(data, tiny_checkpoint):
    other = plan.TrainingData.from_text("To be, or not to be: that is the question. " * 50, "hamlet.txt")
    with pytest.raises(plan.SpecError, match="choose that text in lesson 1|no training state"):
        plan.continued_spec(tiny_checkpoint, other)


def test_a_diverged_run_says_why_and_keeps_its_curve(registry, data, tmp_path):
    spec = tiny_spec(data, ("gpt",), learning_rate=1.0, warmup_steps=0, max_steps=200)
    run = registry.start(replace(spec, train=replace(spec.train, learning_rate=50.0)), data, tmp_path)
    assert run.wait(120) and run.status == runs.FAILED
    view = run.view()
    assert view.error.startswith("Training diverged at step") and "learning rate (50" in view.error
    assert view.models["gpt"].steps  # the curve up to that point stays on the page
