"""The "which part does what" lesson under AppTest: over the shipped GPT every section renders with
the numbers `course.interventions` computes, choosing a head, the ablation, the prompts or the
patched stage changes what is shown, and odd inputs (prompts of two lengths, an empty name, a bigram
upload) get a message; a 1-layer, 1-head model without MLPs gets every section too."""

import json
import shutil

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import app_test, decode_array, plotly_spec

from course import interventions as iv
from lessons import ui
from tinygpt import GPT, BigramConfig, BigramLM, GPTConfig, load_checkpoint, save_checkpoint, split_data

PAGE = "lessons/8_interventions.py"
SHIPPED = ui.SHIPPED_DIR / "shakespeare-gpt.safetensors"
SECTIONS = [
    "1 · Switch one head off: the head map",
    "2 · Activation patching: where a difference is carried",
    "3 · Induction heads: copying what came before",
]
CHARTS = ["heads", "parts", "att", "next", "patch", "induction", "copy"]


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(SHIPPED)


@pytest.fixture(scope="module", autouse=True)
def _fresh_caches():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def at():
    at = app_test(PAGE, timeout=120).run()
    assert not at.exception, at.exception
    return at


def chart(at, name: str) -> dict:
    return plotly_spec(at, f"interventions_fig_{name}")


def shown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_every_section_renders_with_the_models_own_numbers(at, model, text):
    assert at.title[0].value == "Lesson 8 · Which part does what"
    assert [h.value for h in at.header] == SECTIONS
    for name in CHARTS:
        assert chart(at, name)["data"], name
    # the head map is the loss's rise without each head on the page's slice of validation text
    val = split_data(torch.tensor(model.tokenizer.encode(text, unknown="replace"))).val
    x, y = iv.reference_batch(val, model.config.block_size)
    means = iv.mean_activations(model.model, x, iv.heads(model.model))
    want = iv.ablate_each(model.model, x, y, iv.heads(model.model), "mean", means)
    grid = decode_array(chart(at, "heads")["data"][0]["z"])
    assert np.allclose(grid, want.grid(4, 4).numpy(), atol=1e-5)
    top = want.top()
    assert at.selectbox(key="interventions_head").value == top.layer * 4 + top.head
    assert f"Switching off block {top.layer}, head {top.head} costs the most" in shown(at)
    assert "**No: this model has no induction head.**" in shown(at)
    assert "they differ at 32:h→m" in shown(at) and "'s' 99% likely" in shown(at)
    assert [m.label for m in at.metric] == [
        "loss on the first copy",
        "loss on the second copy",
        "guessing at random",
    ]


def test_choosing_a_head_shows_its_attention_and_what_it_costs(at, model):
    before = {name: json.dumps(chart(at, name)["data"]) for name in ("att", "next")}
    at.selectbox(key="interventions_head").set_value(6).run()  # block 1, head 2
    assert not at.exception, at.exception
    for name, data in before.items():
        assert json.dumps(chart(at, name)["data"]) != data, name
    assert at.subheader[0].value == "What block 1, head 2 does on a prompt"
    prompt = at.text_area(key="interventions_prompt").value
    idx = torch.tensor([model.tokenizer.encode(prompt)])
    with torch.no_grad():
        maps = model.model.attention_maps(idx)
    assert np.allclose(decode_array(chart(at, "att")["data"][0]["z"]), maps[1, 0, 2].numpy(), atol=1e-6)
    bars = chart(at, "next")["data"]
    assert bars[1]["name"] == "without block 1, head 2"
    with torch.no_grad():
        clean = model.model(idx)[0][0, -1].softmax(-1)
    assert decode_array(bars[0]["y"])[0] == pytest.approx(float(clean.max()), abs=1e-5)


def test_zero_ablation_changes_the_head_map(at):
    before = decode_array(chart(at, "heads")["data"][0]["z"])
    at.radio(key="interventions_mode").set_value("zero").run()
    assert not at.exception, at.exception
    after = decode_array(chart(at, "heads")["data"][0]["z"])
    assert after.shape == before.shape and not np.allclose(after, before)
    assert "(zero ablation)" in chart(at, "heads")["layout"]["title"]["text"]


def test_patching_another_stage_or_other_prompts(at):
    resid = decode_array(chart(at, "patch")["data"][0]["z"])
    assert resid.shape == (5, 35)
    at.radio(key="interventions_stage").set_value("attn").run()
    attn = decode_array(chart(at, "patch")["data"][0]["z"])
    assert attn.shape == (4, 35) and "attention's output alone restores the most" in shown(at)
    at.text_area(key="interventions_corrupt").input("JULIET:").run()
    assert not at.exception, at.exception
    assert any("equally long" in i.value for i in at.info)
    at.text_area(key="interventions_corrupt").input(at.text_area(key="interventions_clean").value).run()
    assert any("the two prompts are the same" in i.value for i in at.info)


def test_a_name_too_short_or_unknown_gets_a_message(at):
    at.text_input(key="interventions_name").input("").run()
    assert not at.exception, at.exception
    assert any("at least two characters" in i.value for i in at.info)
    at.text_input(key="interventions_name").input("Zoë").run()
    assert any("vocabulary lacks 'ë'" in i.value for i in at.info)


def test_a_one_layer_one_head_model_without_mlp_gets_every_section(no_shipped, tiny_checkpoint):
    tok = load_checkpoint(tiny_checkpoint).tokenizer
    config = GPTConfig.preset(
        "tiny", vocab_size=tok.vocab_size, n_layer=1, n_head=1, block_size=32, mlp=False
    )
    torch.manual_seed(0)
    save_checkpoint(no_shipped / "one.safetensors", GPT(config).eval(), tok)
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.header] == SECTIONS
    assert decode_array(chart(at, "heads")["data"][0]["z"]).shape == (1, 1)
    assert [d["name"] for d in chart(at, "parts")["data"]] == ["attention"]
    assert any("no MLPs" in i.value for i in at.info)
    assert at.radio(key="interventions_stage").options == ["the residual stream", "attention's output"]
    assert "induction head" in shown(at)


def test_a_bigram_upload_is_refused_with_a_message(no_shipped, tiny_checkpoint, tmp_path):
    shutil.copy(tiny_checkpoint, no_shipped / "tiny-gpt.safetensors")
    tok = load_checkpoint(tiny_checkpoint).tokenizer
    bigram = save_checkpoint(tmp_path / "bigram.safetensors", BigramLM(BigramConfig(tok.vocab_size)), tok)
    at = app_test(PAGE).run()
    assert [h.value for h in at.header] == SECTIONS  # the tiny run works too
    at.selectbox(key="interventions_checkpoint").set_value(ui.UPLOAD).run()
    at.file_uploader(key="interventions_checkpoint_upload").upload(
        "bigram.safetensors", bigram.read_bytes()
    ).run()
    assert not at.exception, at.exception
    assert any("is a bigram model" in e.value for e in at.error)
