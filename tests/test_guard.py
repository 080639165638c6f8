"""When training goes wrong: a diverging loss stops the run and keeps the last good checkpoint, and a
checkpoint that cannot be written (full disk, no folder) is reported while training goes on."""

import math
import subprocess
import sys

import pytest
import torch
from safetensors import SafetensorError

from tinygpt import CharTokenizer, TrainConfig, build_model, encode_text, make_config, split_data, train
from tinygpt import checkpoint as checkpoint_module
from tinygpt.checkpoint import load_checkpoint, save_checkpoint
from tinygpt.train import CheckpointEvent, DoneEvent, StepEvent, TrainingDiverged


@pytest.fixture(scope="module")
def setup(text):
    tok = CharTokenizer.from_text(text)
    return tok, split_data(encode_text(text, tok))


def tiny_gpt(tok):
    torch.manual_seed(0)
    return build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))


def test_a_huge_learning_rate_stops_the_run_and_keeps_the_last_good_checkpoint(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "run.safetensors"
    # a slow warmup towards 50: the first steps survive and are saved, then the loss blows up
    cfg = TrainConfig(
        learning_rate=50.0,
        warmup_steps=1000,
        max_steps=100,
        eval_interval=1,
        eval_iters=2,
        device="cpu",
        checkpoint_path=str(path),
    )
    steps, saved = [], []
    with pytest.raises(TrainingDiverged) as caught:
        for event in train(tiny_gpt(tok), splits, cfg, tok):
            if isinstance(event, StepEvent):
                steps.append(event)
            if isinstance(event, CheckpointEvent):
                saved.append(event.step)
    e = caught.value
    assert "learning rate (50)" in str(e) and "likely cause" in str(e)
    # caught at a step (not yielded) or at the evaluation after it (not saved)
    assert e.step in (steps[-1].step, steps[-1].step + 1)
    assert not math.isfinite(e.loss) or e.loss > 1.5 * steps[0].loss
    assert all(math.isfinite(s.loss) and s.loss < 1.5 * steps[0].loss for s in steps)  # the curve so far
    assert saved and e.last_checkpoint == str(path) and f"step {saved[-1]}" in str(e)
    kept = load_checkpoint(path)
    assert kept.summary["steps"] == saved[-1] < e.step  # never overwritten with the diverged weights
    assert kept.summary["val_loss"] < 1.5 * steps[0].loss
    assert all(torch.isfinite(p).all() for p in kept.model.parameters())


def test_divergence_before_any_checkpoint_says_so(setup):
    tok, splits = setup
    cfg = TrainConfig(learning_rate=50.0, warmup_steps=0, max_steps=100, device="cpu")
    with pytest.raises(TrainingDiverged, match="No checkpoint was saved") as caught:
        list(train(tiny_gpt(tok), splits, cfg, tok))
    assert caught.value.last_checkpoint is None


def test_a_normal_run_is_not_stopped(setup):
    tok, splits = setup
    cfg = TrainConfig(
        learning_rate=1e-2, warmup_steps=5, max_steps=60, eval_interval=30, eval_iters=2, device="cpu"
    )
    assert isinstance(list(train(tiny_gpt(tok), splits, cfg, tok))[-1], DoneEvent)


def test_cli_exits_non_zero_on_divergence(tmp_path, data_path):
    out = tmp_path / "run.safetensors"
    args = ["--threads", "1", "train", "--preset", "tiny", "--learning-rate", "50", "--warmup-steps", "0"]
    args += ["--data", str(data_path), "--out", str(out), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "tinygpt", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert (
        "diverged" in done.stderr and "learning rate (50)" in done.stderr and "Traceback" not in done.stderr
    )
    assert not out.exists()


def test_a_failed_save_is_reported_and_training_goes_on(setup, tmp_path):
    tok, splits = setup
    folder = tmp_path / "runs"
    cfg = TrainConfig(
        max_steps=30,
        eval_interval=10,
        eval_iters=2,
        device="cpu",
        checkpoint_path=str(folder / "run.safetensors"),
    )
    events = []
    for event in train(tiny_gpt(tok), splits, cfg, tok):
        events.append(event)
        if isinstance(event, CheckpointEvent) and event.step == 10:
            (folder / "run.safetensors").unlink()
            folder.rmdir()
            folder.write_text("a file where the folder was")  # every later save fails with an OSError
    saves = [e for e in events if isinstance(e, CheckpointEvent)]
    assert [(e.step, e.error is None) for e in saves] == [(10, True), (20, False), (30, False)]
    assert "could not save" in saves[1].error and saves[1].path == cfg.checkpoint_path
    assert events[-1] == DoneEvent(30, events[-1].elapsed, "max_steps")  # training went on to the end
    assert [e.step for e in events if isinstance(e, StepEvent)] == list(range(1, 31))


def test_a_full_disk_is_an_oserror_and_keeps_the_old_file(setup, tmp_path, monkeypatch):
    tok, _ = setup
    path = save_checkpoint(tmp_path / "run.safetensors", tiny_gpt(tok), tok, {"steps": 1})

    def disk_full(*args, **kwargs):  # what safetensors raises when the write fails (measured on a tmpfs)
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint_module, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left on device") as caught:
        save_checkpoint(path, tiny_gpt(tok), tok, {"steps": 2})
    assert caught.value.errno == 28
    assert load_checkpoint(path).summary["steps"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]  # no temporary file left


def test_cli_warns_when_it_cannot_save(tmp_path, data_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    args = ["--threads", "1", "train", "--preset", "tiny", "--max-steps", "20", "--eval-interval", "10"]
    args += [
        "--eval-iters",
        "2",
        "--data",
        str(data_path),
        "--out",
        str(blocker / "run.safetensors"),
        "--quiet",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "tinygpt", *args], capture_output=True, text=True, timeout=300
    )
    assert done.stderr.count("warning: step") == 2 and "training goes on" in done.stderr
    assert "done after 20 steps" in done.stdout and "NOT saved" in done.stdout
    assert done.returncode == 1  # the trained model is lost: a script must notice
