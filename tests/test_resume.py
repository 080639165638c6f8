"""Resuming a run: a checkpoint saved during training carries the optimizer, the random states and the
schedule's position, so 100 steps + 100 resumed steps give what 200 straight steps give."""

import shutil
import subprocess
import sys

import pytest
import torch

from tinygpt import CharTokenizer, TrainConfig, build_model, encode_text, make_config, split_data, train
from tinygpt.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_train_state,
    read_metadata,
    save_checkpoint,
)
from tinygpt.train import CheckpointEvent, DoneEvent, EvalEvent, StepEvent, resume_config


@pytest.fixture(scope="module")
def setup(text):
    tok = CharTokenizer.from_text(text)
    return tok, split_data(encode_text(text, tok))


def small_gpt(tok):
    torch.manual_seed(0)
    # dropout on, so the resumed run must also continue the dropout masks' random stream
    return build_model("gpt", make_config("gpt", tok.vocab_size, "tiny", n_embd=32, dropout=0.1))


def config(path, **changes) -> TrainConfig:
    values = dict(
        max_steps=200,
        eval_interval=100,
        eval_iters=2,
        batch_size=8,
        learning_rate=3e-3,
        warmup_steps=20,
        device="cpu",
        dtype="float32",
        checkpoint_path=str(path),
    )
    return TrainConfig(**{**values, **changes})


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resumed_run_matches_the_straight_run(setup, tmp_path, optimizer):
    tok, splits = setup
    straight, halfway = tmp_path / "straight.safetensors", tmp_path / "halfway.safetensors"
    model = small_gpt(tok)
    losses = {}
    for event in train(model, splits, config(straight, optimizer=optimizer), tok):
        if isinstance(event, StepEvent):
            losses[event.step] = event.loss
        if isinstance(event, CheckpointEvent) and event.step == 100:
            shutil.copy(straight, halfway)  # the run as it was saved after 100 steps

    ckpt = load_checkpoint(halfway)
    cfg = resume_config(halfway, checkpoint_path=str(tmp_path / "resumed.safetensors"))
    assert cfg == config(tmp_path / "resumed.safetensors", optimizer=optimizer)
    events = list(train(ckpt.model, splits, cfg, tok, resume=halfway))
    resumed = {e.step: e.loss for e in events if isinstance(e, StepEvent)}

    assert sorted(resumed) == list(range(101, 201))
    assert resumed == {s: losses[s] for s in range(101, 201)}  # exactly: same batches, masks, moments
    for name, value in model.state_dict().items():
        assert torch.equal(value, ckpt.model.state_dict()[name]), name
    history = load_checkpoint(tmp_path / "resumed.safetensors").summary["history"]
    assert [h["step"] for h in history] == [100, 200]  # the run's history goes on in the new file
    assert events[-1] == DoneEvent(200, events[-1].elapsed, "max_steps")


def test_train_state_is_saved_without_pickle_and_read_back(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "run.safetensors"
    list(train(small_gpt(tok), splits, config(path, max_steps=5, eval_interval=5), tok))
    assert read_metadata(path)["resumable"] is True
    state = load_train_state(path)
    assert state.info["step"] == 5 and state.info["train_config"]["max_steps"] == 5
    assert state.tensors["rng.torch"].dtype == torch.uint8 and "rng.batches" in state.tensors
    assert {k.rsplit(".", 1)[1] for k in state.tensors if k.startswith("optimizer.")} == {
        "step",
        "exp_avg",
        "exp_avg_sq",
    }
    assert "optimizer.transformer.h.0.attn.c_attn.weight.exp_avg" in state.tensors  # named, not numbered
    # the weights load as before: the training state's tensors are not taken for weights
    assert load_checkpoint(path).summary["steps"] == 5


def test_a_checkpoint_without_train_state_cannot_be_resumed(setup, tmp_path):
    tok, _ = setup
    path = save_checkpoint(tmp_path / "plain.safetensors", small_gpt(tok), tok)
    assert read_metadata(path)["resumable"] is False
    with pytest.raises(CheckpointError, match="no training state"):
        load_train_state(path)


def test_optimizer_state_of_another_model_is_refused(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "run.safetensors"
    list(train(small_gpt(tok), splits, config(path, max_steps=2, eval_interval=2), tok))
    other = build_model("gpt", make_config("gpt", tok.vocab_size, "tiny", n_embd=16))
    with pytest.raises(ValueError, match="does not match this model"):
        list(train(other, splits, resume_config(path, max_steps=4), tok, resume=path))


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tinygpt", "--threads", "1", "train", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(600)
def test_cli_resume_continues_the_saved_run(tmp_path, data_path):
    out = tmp_path / "run.safetensors"
    common = ("--data", str(data_path), "--quiet")
    first = cli(
        "--preset",
        "tiny",
        "--max-steps",
        "30",
        "--eval-interval",
        "15",
        "--eval-iters",
        "2",
        "--out",
        str(out),
        *common,
    )
    assert first.returncode == 0, first.stderr

    nothing_left = cli("--resume", str(out), *common)
    assert nothing_left.returncode == 2 and "larger --max-steps" in nothing_left.stderr

    more = cli("--resume", str(out), "--max-steps", "45", *common)
    assert more.returncode == 0, more.stderr
    assert "done after 45 steps" in more.stdout
    summary = load_checkpoint(out).summary
    assert summary["steps"] == 45 and [h["step"] for h in summary["history"]] == [15, 30, 45]

    other_text = tmp_path / "other.txt"
    other_text.write_text(data_path.read_text(encoding="utf-8")[:50_000], encoding="utf-8")
    wrong = cli("--resume", str(out), "--max-steps", "60", "--data", str(other_text), "--quiet")
    assert wrong.returncode == 2 and "another text" in wrong.stderr
    reshaped = cli("--resume", str(out), "--max-steps", "60", "--n-layer", "3", *common)
    assert reshaped.returncode == 2 and "--n-layer cannot change a resumed run" in reshaped.stderr
    assert [e for e in load_checkpoint(out).summary["history"]] == summary["history"]  # untouched


def test_eval_events_after_resume_continue_the_steps(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "run.safetensors"
    list(train(small_gpt(tok), splits, config(path, max_steps=10, eval_interval=5), tok))
    cfg = resume_config(path, max_steps=20)
    events = list(train(load_checkpoint(path).model, splits, cfg, tok, resume=path))
    assert [e.step for e in events if isinstance(e, EvalEvent)] == [15, 20]
