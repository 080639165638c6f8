"""Data-parallel training: `torchrun --nproc_per_node=2 -m tinygpt train` on CPU (gloo) learns what one
process learns with the same global batch, and gradient accumulation keeps that batch too."""

import subprocess
import sys

import pytest
import torch

from tinygpt import CharTokenizer, TrainConfig, build_model, encode_text, make_config, split_data, train
from tinygpt.checkpoint import load_checkpoint
from tinygpt.train import StepEvent

FLAGS = dict(max_steps=30, eval_interval=10, eval_iters=4, batch_size=8, learning_rate=1e-2, warmup_steps=5)


@pytest.fixture(scope="module")
def setup(text):
    tok = CharTokenizer.from_text(text)
    return tok, split_data(encode_text(text, tok))


def one_process(tok, splits, path=None, **changes):
    """The run the CLI makes (same seed, preset and flags) in this process."""
    cfg = TrainConfig.preset("tiny", **FLAGS, device="cpu", dtype="float32", checkpoint_path=path, **changes)
    torch.manual_seed(cfg.seed)
    model = build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))
    events = list(train(model, splits, cfg, tok))
    return model, [e.loss for e in events if isinstance(e, StepEvent)]


@pytest.mark.timeout(600)
def test_two_processes_learn_what_one_process_learns(setup, tmp_path, data_path):
    tok, splits = setup
    out = tmp_path / "ddp.safetensors"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in FLAGS.items()]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "tinygpt", "train", "--preset", "tiny", "--device", "cpu", "--dtype", "float32"]
    command += [*flags, "--data", str(data_path), "--out", str(out), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done after 30 steps") == 1  # only rank 0 reports

    single, _ = one_process(tok, splits, str(tmp_path / "single.safetensors"))
    ddp, alone = load_checkpoint(out), load_checkpoint(tmp_path / "single.safetensors")
    assert [h["step"] for h in ddp.summary["history"]] == [10, 20, 30]
    curve = [h[k] for h in ddp.summary["history"] for k in ("train_loss", "val_loss")]
    expected = [h[k] for h in alone.summary["history"] for k in ("train_loss", "val_loss")]
    assert curve == pytest.approx(expected, abs=1e-4)
    assert curve[-1] < curve[1] - 0.1  # and it did learn
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ddp.model.state_dict()[name], value, atol=1e-4, rtol=1e-4)


def test_gradient_accumulation_keeps_the_batch(setup):
    tok, splits = setup
    whole, losses = one_process(tok, splits)
    parts, accumulated = one_process(tok, splits, grad_accum=4)
    assert accumulated == pytest.approx(losses, rel=1e-5)
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(parts.state_dict()[name], value, atol=1e-5, rtol=1e-5)


def test_a_batch_that_does_not_split_is_explained(setup):
    tok, splits = setup
    with pytest.raises(ValueError, match="does not split evenly .* choose a multiple of 3"):
        one_process(tok, splits, grad_accum=3)
