"""Checkpoints: a round trip, and a clear CheckpointError for every kind of bad file."""

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from tinygpt import (
    GPT,
    BigramConfig,
    BigramLM,
    CharTokenizer,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from tinygpt.checkpoint import clean_state_dict, list_checkpoints, read_metadata
from tinygpt.tokenizers import TOKENIZERS, make_tokenizer


@pytest.fixture
def saved(tmp_path, tiny_cfg):
    torch.manual_seed(0)
    model = GPT(tiny_cfg)
    tok = CharTokenizer("".join(chr(32 + i) for i in range(tiny_cfg.vocab_size)))
    path = save_checkpoint(tmp_path / "m.safetensors", model, tok, {"steps": 3, "val_loss": 2.5})
    return path, model, tok


def test_round_trip(saved, tiny_cfg):
    path, model, tok = saved
    ckpt = load_checkpoint(path)
    assert ckpt.model_type == "gpt" and ckpt.config == tiny_cfg and ckpt.tokenizer == tok
    assert ckpt.summary["steps"] == 3 and ckpt.summary["val_loss"] == 2.5 and "saved_at" in ckpt.summary
    for (name, a), (_, b) in zip(model.state_dict().items(), ckpt.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not ckpt.model.training
    # the same file read from bytes (an upload) gives the same model
    again = load_checkpoint(path.read_bytes())
    assert again.config == tiny_cfg and again.path is None


def test_bigram_round_trip(tmp_path):
    model = BigramLM(BigramConfig(vocab_size=5))
    path = save_checkpoint(tmp_path / "b.safetensors", model, CharTokenizer("abcde"))
    ckpt = load_checkpoint(path)
    assert ckpt.model_type == "bigram" and torch.equal(
        ckpt.model.token_embedding_table.weight, model.token_embedding_table.weight
    )


def test_write_is_atomic_and_leaves_no_temporary_files(saved, tmp_path):
    path, model, tok = saved
    save_checkpoint(path, model, tok, {"steps": 4})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    assert read_metadata(path)["summary"]["steps"] == 4


def test_compiled_prefix_is_removed(tiny_cfg):
    state = {f"_orig_mod.{k}": v.to(torch.bfloat16) for k, v in GPT(tiny_cfg).state_dict().items()}
    clean = clean_state_dict(state)
    assert set(clean) == set(GPT(tiny_cfg).state_dict())
    assert all(v.dtype == torch.float32 for v in clean.values())


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("cut", [4, 100, -10])
def test_truncated_file(saved, tmp_path, cut):
    raw = saved[0].read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(raw[:cut])
    with pytest.raises(CheckpointError, match="short|truncated"):
        load_checkpoint(bad)


def test_not_safetensors(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"PK\x03\x04 this is a zip, or a pickle, or anything else" * 10)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        load_checkpoint(b"")


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a TinyGPT checkpoint"):
        load_checkpoint(path)


def _rewrite_metadata(path, tmp_path, **changes):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"].update(changes)
    header["__metadata__"] = {k: v for k, v in header["__metadata__"].items() if v is not None}  # None: drop
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    out = tmp_path / "edited.safetensors"
    out.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])
    return out


def test_future_format_version(saved, tmp_path):
    bad = _rewrite_metadata(saved[0], tmp_path, format_version="99")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(bad)


def test_config_that_does_not_match_the_weights(saved, tmp_path, tiny_cfg):
    config = {**read_metadata(saved[0])["config"], "n_embd": 32}
    bad = _rewrite_metadata(saved[0], tmp_path, config=json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(bad)


def test_vocabulary_that_does_not_match_the_weights(saved, tmp_path):
    bad = _rewrite_metadata(saved[0], tmp_path, tokenizer=CharTokenizer("abc").to_json())
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(bad)
    old_style = _rewrite_metadata(saved[0], tmp_path, tokenizer=None, vocab=json.dumps("abc"))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(old_style)


def test_a_checkpoint_without_a_tokenizer_entry_reads_its_characters(saved, tmp_path):
    path, _, tok = saved
    old_style = _rewrite_metadata(path, tmp_path, tokenizer=None)  # as saved before issue 24
    assert load_checkpoint(old_style).tokenizer == tok
    assert read_metadata(old_style)["tokenizer_kind"] == "char"


def test_the_shipped_checkpoint_still_loads():
    ckpt = load_checkpoint("checkpoints/shakespeare-gpt.safetensors")
    assert isinstance(ckpt.tokenizer, CharTokenizer) and ckpt.tokenizer.vocab_size == 65
    assert ckpt.config.norm == "layernorm" and ckpt.config.norm_position == "pre"
    assert not ckpt.config.tie_weights


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_every_tokenizer_and_switch_round_trips(tmp_path, tiny_cfg, kind):
    text = "the cat sat on the mat, o'er the log.\n" * 30
    tok = make_tokenizer(kind, text, 280 if kind == "bpe" else 20)
    config = tiny_cfg.replace(
        vocab_size=tok.vocab_size, norm="rmsnorm", norm_position="post", tie_weights=True
    )
    torch.manual_seed(0)
    model = GPT(config)
    path = save_checkpoint(tmp_path / f"{kind}.safetensors", model, tok)
    meta = read_metadata(path)
    assert meta["tokenizer_kind"] == kind and meta["vocab_size"] == tok.vocab_size
    ckpt = load_checkpoint(path)
    assert type(ckpt.tokenizer) is type(tok) and ckpt.tokenizer == tok and ckpt.config == config
    loaded = ckpt.model
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # tied again, not two copies
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    idx = torch.tensor([tok.encode("the cat")])
    assert torch.equal(loaded(idx)[0], model.eval()(idx)[0])


def test_malformed_metadata(saved, tmp_path):
    bad = _rewrite_metadata(saved[0], tmp_path, config="{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(bad)
    bad = _rewrite_metadata(saved[0], tmp_path, model_type="rnn")
    with pytest.raises(CheckpointError, match="unknown model type"):
        load_checkpoint(bad)


def test_invalid_config(saved, tmp_path):
    config = read_metadata(saved[0])["config"]
    bad = _rewrite_metadata(saved[0], tmp_path, config=json.dumps({**config, "n_head": 3}))
    with pytest.raises(CheckpointError, match="invalid"):
        load_checkpoint(bad)


def test_listing_skips_bad_files(saved, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    found = list_checkpoints(tmp_path)
    assert [p.name for p, _ in found] == ["m.safetensors"]
