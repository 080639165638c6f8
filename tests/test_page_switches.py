"""The lessons that load a learner's checkpoint (5: inside the model, 6: generation) open without an
exception on a model trained with the experiments' switches (issue 24): BPE or word tokens, RMSNorm,
post-norm and tied embeddings. What only makes sense for characters says so in a sentence."""

from __future__ import annotations

import pytest
import streamlit as st
import torch
from conftest import app_test

from lessons import ui
from tinygpt import GPT, GPTConfig, load_checkpoint, save_checkpoint
from tinygpt.tokenizers import make_tokenizer

SWITCHED = {
    "bpe, post-norm": ("bpe", dict(norm="rmsnorm", norm_position="post", tie_weights=True)),
    "bpe, pre-norm": ("bpe", dict(norm="rmsnorm", tie_weights=True)),
    "word, pre-norm": ("word", dict(norm="rmsnorm", tie_weights=True)),
}


@pytest.fixture
def switched_run(runs_dir, tmp_path, monkeypatch, text, request):
    """Only the learner's runs folder, holding one GPT of SWITCHED[request.param]."""
    empty = tmp_path / "shipped"
    empty.mkdir()
    monkeypatch.setattr(ui, "SHIPPED_DIR", empty)
    kind, switches = SWITCHED[request.param]
    tok = make_tokenizer(kind, text[:50_000], 300 if kind == "bpe" else 200)
    torch.manual_seed(0)
    config = GPTConfig.preset("tiny", vocab_size=tok.vocab_size, block_size=32, **switches)
    st.cache_resource.clear()
    yield save_checkpoint(runs_dir / f"{kind}-switched.safetensors", GPT(config).eval(), tok)
    st.cache_resource.clear()


@pytest.mark.parametrize("switched_run", SWITCHED, indirect=True)
def test_lessons_5_and_6_open_on_a_switched_model(switched_run):
    ckpt = load_checkpoint(switched_run)
    inside = app_test("lessons/5_inside.py").run()
    assert not inside.exception, inside.exception
    infos = " ".join(i.value for i in inside.info)
    if ckpt.config.norm_position == "post":
        assert "is a post-norm model" in infos and not inside.header
    else:
        assert len(inside.header) == 5  # every section
        assert f"reads {ckpt.tokenizer.kind} tokens, not characters" in infos
        assert "RMSNorm ln_1" in inside.get("graphviz_chart")[0].proto.spec
        assert any("uses **RMSNorm**" in c.value for c in inside.caption)
    generate = app_test("lessons/6_generate.py").run()
    assert not generate.exception, generate.exception
    unit = {"bpe": "BPE tokens", "word": "word tokens"}[ckpt.tokenizer.kind]
    assert f"vocabulary of {ckpt.tokenizer.vocab_size} {unit}" in " ".join(c.value for c in generate.caption)
    generate.text_area(key="generate_prompt").input("ROMEO: the xylophone ☃").run()
    assert not generate.exception, generate.exception
    if ckpt.tokenizer.kind == "word":  # BPE reads any text
        assert any("'xylophone'" in w.value and "<unk>" in w.value for w in generate.warning)
    generate.button(key="generate_go").click().run()
    assert not generate.exception, generate.exception
    assert generate.session_state["generate_result"]["text"]
