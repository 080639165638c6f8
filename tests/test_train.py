"""The training loop: its events, determinism, stop requests, time budget, and that loss falls."""

import math
import time

import pytest
import torch

from tinygpt import (
    CharTokenizer,
    ConfigError,
    TrainConfig,
    build_model,
    encode_text,
    make_config,
    split_data,
    train,
)
from tinygpt.optim import Muon, configure_optimizer
from tinygpt.train import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StepEvent,
    get_lr,
)


@pytest.fixture(scope="module")
def setup(text):
    tok = CharTokenizer.from_text(text)
    return tok, split_data(encode_text(text, tok))


def tiny_gpt(tok):
    torch.manual_seed(0)  # the same initial weights every time
    return build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))


def run(model, splits, tok=None, **cfg):
    cfg = TrainConfig(**{"device": "cpu", "eval_iters": 2, **cfg})
    return list(train(model, splits, cfg, tok))


def test_events_in_order_and_counted(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "run.safetensors"
    events = run(
        tiny_gpt(tok),
        splits,
        tok,
        max_steps=20,
        eval_interval=10,
        sample_tokens=12,
        checkpoint_path=str(path),
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("StepEvent") == 20
    assert (
        kinds.count("EvalEvent") == 2
        and kinds.count("SampleEvent") == 2
        and kinds.count("CheckpointEvent") == 2
    )
    assert isinstance(events[-1], DoneEvent) and events[-1].reason == "max_steps" and events[-1].step == 20
    assert [e.step for e in events if isinstance(e, StepEvent)] == list(range(1, 21))
    assert all(len(e.text) == 12 for e in events if isinstance(e, SampleEvent))
    assert path.exists() and all(e.path == str(path) for e in events if isinstance(e, CheckpointEvent))
    assert all(e.tokens_per_sec > 0 and e.lr > 0 for e in events if isinstance(e, StepEvent))


def test_same_seed_same_losses(setup):
    tok, splits = setup
    losses = []
    for _ in range(2):
        events = run(tiny_gpt(tok), splits, max_steps=15, eval_interval=15, seed=3)
        losses.append([e.loss for e in events if isinstance(e, StepEvent)])
    assert losses[0] == losses[1]
    other = run(tiny_gpt(tok), splits, max_steps=15, eval_interval=15, seed=4)
    assert [e.loss for e in other if isinstance(e, StepEvent)] != losses[0]


def test_stop_request_is_honoured_within_one_step(setup):
    tok, splits = setup
    stop = {"now": False}
    seen = 0
    for event in train(
        tiny_gpt(tok),
        splits,
        TrainConfig(max_steps=10_000, eval_iters=2, device="cpu"),
        None,
        lambda: stop["now"],
    ):
        if isinstance(event, StepEvent):
            seen = event.step
            if event.step == 7:
                stop["now"] = True
        if isinstance(event, DoneEvent):
            done = event
    assert seen == 7 and done.step == 7 and done.reason == "stopped"


def test_stopped_run_is_evaluated_and_saved(setup, tmp_path):
    tok, splits = setup
    path = tmp_path / "stopped.safetensors"
    cfg = TrainConfig(
        max_steps=10_000, eval_interval=1000, eval_iters=2, device="cpu", checkpoint_path=str(path)
    )
    events = list(train(tiny_gpt(tok), splits, cfg, tok, lambda: True))
    assert [type(e).__name__ for e in events] == ["StepEvent", "EvalEvent", "CheckpointEvent", "DoneEvent"]
    assert path.exists()


def test_time_budget(setup):
    tok, splits = setup
    start = time.perf_counter()
    events = run(tiny_gpt(tok), splits, max_steps=None, max_seconds=0.5, eval_interval=100_000)
    assert events[-1].reason == "max_seconds"
    assert 0.5 <= events[-1].elapsed < 5 and time.perf_counter() - start < 10


def test_lr_schedule_warms_up_then_decays_to_min():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
    assert get_lr(0.0, 0, cfg) == pytest.approx(1e-4)
    assert get_lr(0.1, 9, cfg) == pytest.approx(1e-3)
    assert get_lr(0.5, 50, cfg) == pytest.approx(5.5e-4)
    assert get_lr(1.0, 100, cfg) == pytest.approx(1e-4)


def test_bad_train_config_is_explained():
    with pytest.raises(ValueError, match="max_steps, max_seconds"):
        TrainConfig(max_steps=None, max_seconds=None)
    with pytest.raises(ConfigError, match="batch_size") as refused:
        TrainConfig(batch_size=0)
    assert refused.value.problems == [str(refused.value)]


def test_loss_falls_on_shakespeare(setup):
    tok, splits = setup
    torch.manual_seed(0)
    model = build_model("gpt", make_config("gpt", tok.vocab_size, "cpu", n_layer=1, n_embd=64, block_size=32))
    events = run(
        model, splits, max_steps=120, eval_interval=120, eval_iters=5, learning_rate=1e-2, warmup_steps=10
    )
    final = [e for e in events if isinstance(e, EvalEvent)][-1]
    assert final.val_loss < math.log(tok.vocab_size) - 1.2  # from ~4.2 to below ~3.0


def test_bigram_trains_on_its_own_block_size(setup):
    tok, splits = setup
    model = build_model("bigram", make_config("bigram", tok.vocab_size))
    events = run(
        model, splits, max_steps=100, eval_interval=100, learning_rate=0.1, warmup_steps=0, batch_size=16
    )
    final = [e for e in events if isinstance(e, EvalEvent)][-1]
    assert final.val_loss < 3.2


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest(setup):
    tok, _ = setup
    model = tiny_gpt(tok)
    optimizers = configure_optimizer(model, TrainConfig(optimizer="muon", muon_lr=0.05), "cpu")
    adamw, muon = optimizers.optimizers
    names = {p: n for n, p in model.named_parameters()}
    in_muon = {names[p] for group in muon.param_groups for p in group["params"]}
    assert isinstance(muon, Muon) and isinstance(adamw, torch.optim.AdamW)
    assert in_muon == {n for n, p in model.named_parameters() if ".h." in n and p.dim() == 2}
    in_adamw = {names[p] for group in adamw.param_groups for p in group["params"]}
    assert in_adamw == set(names.values()) - in_muon and "lm_head.weight" in in_adamw
    optimizers.set_lr(0.5)  # one schedule scales every group from its own peak
    assert muon.param_groups[0]["lr"] == 0.025 and adamw.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_muon_trains(setup):
    tok, splits = setup
    cfg = dict(max_steps=100, eval_interval=100, eval_iters=4, learning_rate=1e-2, warmup_steps=5)
    events = run(tiny_gpt(tok), splits, optimizer="muon", **cfg)
    assert [e for e in events if isinstance(e, EvalEvent)][-1].val_loss < math.log(tok.vocab_size) - 1.4


def test_unknown_optimizer_is_explained():
    with pytest.raises(ValueError, match="optimizer must be one of adamw, muon"):
        TrainConfig(optimizer="sgd")


def test_lecture_exact_is_the_lectures_recipe():
    from tinygpt import GPTConfig

    model = GPTConfig.preset("lecture-exact")
    assert (model.n_layer, model.n_embd, model.block_size, model.dropout) == (6, 384, 256, 0.2)
    assert model.activation == "relu" and model.bias and not model.qkv_bias and model.lm_head_bias
    cfg = TrainConfig.preset("lecture-exact")
    assert (cfg.batch_size, cfg.max_steps, cfg.grad_clip, cfg.warmup_steps) == (64, 5000, 0.0, 0)
    assert cfg.dtype == "float32"  # the lecture trains in fp32
    assert (cfg.beta1, cfg.beta2, cfg.weight_decay) == (0.9, 0.999, 0.01)  # torch.optim.AdamW's defaults
    assert all(get_lr(progress, step, cfg) == 3e-4 for progress, step in [(0, 0), (0.5, 2500), (1, 5000)])


# ---- bits per character (issue 24): the measure that compares tokenizers ---------------------------


def test_a_char_models_bits_per_char_is_its_loss_over_ln_2(setup):
    tok, splits = setup
    final = [e for e in run(tiny_gpt(tok), splits, tok, max_steps=3) if isinstance(e, EvalEvent)][-1]
    assert final.val_bpc == pytest.approx(final.val_loss / math.log(2))
    assert final.train_bpc == pytest.approx(final.train_loss / math.log(2))


def test_a_bpe_models_bits_per_char_is_scaled_by_tokens_per_character(text, tmp_path):
    from tinygpt.checkpoint import read_metadata
    from tinygpt.data import encode_splits, split_text
    from tinygpt.tokenizers import tokenizer_for

    train_text, val_text = split_text(text[:200_000])
    tok = tokenizer_for("bpe", text[:200_000], 300)
    splits = encode_splits(train_text, val_text, tok)
    tokens_per_char = len(tok.encode(val_text)) / len(val_text)
    assert 0.4 < tokens_per_char < 0.9  # a BPE token holds more than one character
    torch.manual_seed(0)
    model = build_model("gpt", make_config("gpt", tok.vocab_size, "tiny"))
    path = tmp_path / "bpe.safetensors"
    events = run(model, splits, tok, max_steps=3, sample_tokens=5, checkpoint_path=str(path))
    final = [e for e in events if isinstance(e, EvalEvent)][-1]
    assert final.val_bpc == pytest.approx(final.val_loss / math.log(2) * tokens_per_char)
    assert final.val_bpc < final.val_loss / math.log(2)
    train_tokens_per_char = len(splits.train) / len(train_text)
    assert final.train_bpc == pytest.approx(final.train_loss / math.log(2) * train_tokens_per_char)
    assert read_metadata(path)["summary"]["val_bpc"] == pytest.approx(final.val_bpc)
    assert [e for e in events if isinstance(e, SampleEvent)][-1].text  # sampled through the BPE
