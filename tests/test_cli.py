"""`python -m tinygpt train | sample | eval` end to end on the tiny preset, and its errors."""

import argparse
import json
import math
import subprocess
import sys

import pytest

from tinygpt.checkpoint import load_checkpoint
from tinygpt.cli import EXAMPLES, build_parser, main
from tinygpt.optim import OPTIMIZERS


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tinygpt", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.timeout(900)  # four fresh processes, each importing torch
def test_train_sample_eval(tmp_path, data_path):
    out = tmp_path / "tiny.safetensors"
    done = cli(
        "train",
        "--model",
        "gpt",
        "--preset",
        "tiny",
        "--data",
        str(data_path),
        "--max-steps",
        "40",
        "--eval-interval",
        "20",
        "--eval-iters",
        "5",
        "--n-embd",
        "24",
        "--quiet",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "done after 40 steps" in done.stdout
    ckpt = load_checkpoint(out)
    assert ckpt.config.n_embd == 24 and ckpt.summary["steps"] == 40 and len(ckpt.summary["history"]) == 2
    assert len(ckpt.summary["dataset_sha256"]) == 64

    sample = cli(
        "sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "50", "--seed", "1"
    )
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("ROMEO:") and len(sample.stdout.rstrip("\n")) >= 50
    again = cli(
        "sample",
        "--checkpoint",
        str(out),
        "--prompt",
        "ROMEO:",
        "--max-new-tokens",
        "50",
        "--seed",
        "1",
        "--no-cache",
    )
    assert again.stdout == sample.stdout

    ev = cli("eval", "--checkpoint", str(out), "--data", str(data_path), "--json", "--eval-iters", "5")
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    assert 0 < result["val_loss"] < 5 and result["model_type"] == "gpt"


def test_bigram_and_unknown_prompt_characters(tmp_path, data_path, capsys):
    out = tmp_path / "bigram.safetensors"
    code = main(
        [
            "train",
            "--model",
            "bigram",
            "--data",
            str(data_path),
            "--max-steps",
            "20",
            "--eval-interval",
            "10",
            "--eval-iters",
            "2",
            "--learning-rate",
            "0.01",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and load_checkpoint(out).model_type == "bigram"
    capsys.readouterr()
    assert (
        main(["sample", "--checkpoint", str(out), "--prompt", "Hi €", "--max-new-tokens", "5", "--seed", "2"])
        == 0
    )
    captured = capsys.readouterr()
    assert "€" in captured.err and captured.out.startswith("Hi €")


@pytest.mark.parametrize(
    "args, reason",
    [
        (["train", "--preset", "tiny", "--n-embd", "15", "--out", "x.safetensors"], "divisible"),
        (["train", "--model", "bigram", "--n-layer", "2", "--out", "x.safetensors"], "gpt only"),
        (["train", "--preset", "tiny", "--max-steps", "0", "--out", "x.safetensors"], "max_steps"),
        (
            ["train", "--preset", "tiny", "--data", "/no/such/file.txt", "--out", "x.safetensors"],
            "cannot read",
        ),
        (["sample", "--checkpoint", "/no/such.safetensors"], "no checkpoint"),
        (["sample", "--checkpoint", "{ckpt}", "--temperature", "0"], "temperature"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(
    args, reason, tmp_path, tiny_checkpoint, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{ckpt}", str(tiny_checkpoint)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def test_argparse_errors_exit_non_zero():
    done = cli("train", "--model", "rnn", "--out", "x")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def subcommands(parser):
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_every_flag_of_every_command_has_help():
    parser = build_parser()
    for name, command in {"": parser, **subcommands(parser)}.items():
        for action in command._actions:
            if action.option_strings and not isinstance(action, argparse._SubParsersAction):
                assert action.help and action.help.strip(), f"{name} {action.option_strings[0]}"


def test_help_ends_with_the_examples(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.rstrip().endswith(EXAMPLES.splitlines()[-1])
    for name in subcommands(build_parser()):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out.rstrip()
        tail = out[out.rindex("Examples:") :].splitlines()
        assert len(tail) > 1 and all(f" {name} " in f"{line} " for line in tail[1:]), out
        assert set(tail[1:]) <= set(EXAMPLES.splitlines())


def test_train_help_gives_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--batch-size BATCH_SIZE rows per optimizer step" in out
    assert "(default: 32 or the recipe's)" in out and "{auto,float32,bfloat16}" in out


def test_a_flag_with_fixed_values_lists_them(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--optimizer", "sgd"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "invalid choice: 'sgd'" in err
    assert all(repr(name) in err for name in OPTIMIZERS)
    for device in ("cuda:1", "cpu", "auto"):
        assert build_parser().parse_args(["train", "--device", device]).device == device
    with pytest.raises(SystemExit):
        main(["train", "--device", "tpu"])
    assert "auto, cpu, cuda, cuda:N, mps" in capsys.readouterr().err


def test_one_way_to_turn_the_cache_off():
    parser = build_parser()
    assert parser.parse_args(["sample", "--checkpoint", "x", "--no-cache"]).use_cache is False
    assert parser.parse_args(["sample", "--checkpoint", "x"]).use_cache is True
    with pytest.raises(SystemExit):
        parser.parse_args(["sample", "--checkpoint", "x", "--use-cache"])


# ---- the experiments' switches (issue 24) ----------------------------------------------------------


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("data") / "small.txt"
    path.write_text(text[:60_000], encoding="utf-8")
    return path


def train_small(out, data, *flags):
    args = ["train", "--preset", "tiny", "--data", str(data), "--max-steps", "4", "--eval-interval", "2"]
    return main([*args, "--eval-iters", "2", "--quiet", "--out", str(out), *flags])


def test_train_with_every_switch_reports_bits_per_character(tmp_path, small_data, capsys):
    out = tmp_path / "bpe.safetensors"
    switches = ["--tokenizer", "bpe", "--vocab-size", "300", "--tie-weights", "--norm", "rmsnorm"]
    assert train_small(out, small_data, *switches, "--norm-position", "post", "--block-size", "16") == 0
    captured = capsys.readouterr()
    assert "bpe tokens: vocabulary 300" in captured.err
    lines = captured.out.splitlines()
    assert sum("bits per character" in line for line in lines) == 3  # two evaluations and the end
    ckpt = load_checkpoint(out)
    assert ckpt.tokenizer.kind == "bpe" and ckpt.tokenizer.vocab_size == 300
    c = ckpt.config
    assert (c.norm, c.norm_position, c.tie_weights, c.block_size) == ("rmsnorm", "post", True, 16)

    assert (
        main(["eval", "--checkpoint", str(out), "--data", str(small_data), "--json", "--eval-iters", "2"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["tokenizer"] == "bpe" and result["chars_per_token"] > 1.2
    assert result["val_bpc"] == pytest.approx(result["val_loss"] / math.log(2) / result["chars_per_token"])

    assert main(["sample", "--checkpoint", str(out), "--prompt", "ROMEO ☃", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO ☃")


def test_a_word_model_reads_unknown_prompt_words_as_the_unknown_token(tmp_path, small_data, capsys):
    out = tmp_path / "word.safetensors"
    assert train_small(out, small_data, "--tokenizer", "word", "--vocab-size", "200") == 0
    assert "of validation characters in unknown words" in capsys.readouterr().err
    prompt = "ROMEO: the xylophone"
    assert main(["sample", "--checkpoint", str(out), "--prompt", prompt, "--max-new-tokens", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(prompt) and "'xylophone'" in captured.err and "<unk>" in captured.err


def test_switch_flags_are_refused_where_they_cannot_apply(tmp_path, small_data, tiny_checkpoint, capsys):
    assert train_small(tmp_path / "x.safetensors", small_data, "--vocab-size", "300") == 2
    assert "--vocab-size applies to --tokenizer bpe or word" in capsys.readouterr().err
    assert main(["train", "--resume", str(tiny_checkpoint), "--tokenizer", "bpe"]) == 2
    assert "--tokenizer cannot change a resumed run" in capsys.readouterr().err
    assert train_small(tmp_path / "x.safetensors", small_data, "--model", "bigram", "--norm", "rmsnorm") == 2
    assert "--norm applies to --model gpt only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--norm-position", "middle"])
