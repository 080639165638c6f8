"""The pretrained checkpoints shipped in checkpoints/: they load, their metadata is complete, and the
Transformer's recorded val loss is what `python -m tinygpt eval` measures again."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from tinygpt import load_checkpoint
from tinygpt.corpus import SHAKESPEARE_SHA256

SHIPPED = {
    "gpt": ROOT / "checkpoints" / "shakespeare-gpt.safetensors",
    "bigram": ROOT / "checkpoints" / "shakespeare-bigram.safetensors",
}
MAX_BYTES = 25 * 1024 * 1024


@pytest.mark.parametrize("kind", list(SHIPPED))
def test_shipped_checkpoint_loads_with_complete_metadata(kind):
    path = SHIPPED[kind]
    assert path.stat().st_size <= MAX_BYTES
    ckpt = load_checkpoint(path)
    assert ckpt.model_type == kind and ckpt.tokenizer.vocab_size == 65
    summary = ckpt.summary
    for key in (
        "steps",
        "train_loss",
        "val_loss",
        "elapsed_seconds",
        "device",
        "dtype",
        "train_config",
        "history",
        "dataset_sha256",
        "dataset_chars",
        "saved_at",
    ):
        assert key in summary, key
    assert summary["dataset_sha256"] == SHAKESPEARE_SHA256 and summary["dataset_chars"] == 1_115_394
    assert summary["history"][-1]["step"] == summary["steps"]


def test_shipped_transformer_reaches_the_target():
    summary = load_checkpoint(SHIPPED["gpt"]).summary
    assert summary["val_loss"] <= 1.60
    assert load_checkpoint(SHIPPED["bigram"]).summary["val_loss"] > summary["val_loss"] + 0.7


@pytest.mark.timeout(900)
def test_recorded_val_loss_matches_a_fresh_evaluation(is_real_shakespeare, data_path):
    if not is_real_shakespeare:
        pytest.skip("needs ../shared/data/tinyshakespeare.txt")
    ckpt = load_checkpoint(SHIPPED["gpt"])
    cfg = ckpt.summary["train_config"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygpt",
            "eval",
            "--checkpoint",
            str(SHIPPED["gpt"]),
            "--data",
            str(data_path),
            "--json",
            "--eval-iters",
            str(min(10, cfg["eval_iters"])),  # the first of its batches: the mean moves by about 0.01
            "--batch-size",
            str(cfg["batch_size"]),
        ],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, done.stderr
    assert abs(json.loads(done.stdout)["val_loss"] - ckpt.summary["val_loss"]) <= 0.03
