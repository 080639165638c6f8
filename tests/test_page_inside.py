"""The "inside the trained model" lesson under AppTest, over the shipped GPT: every section renders,
its charts show the traced numbers (the top-10 bars are the model's own softmax, the lens's last row
its own guesses), editing the prompt or moving a control changes them, and odd inputs (unknown
characters, a bigram upload, no checkpoint at all) get a message instead of a traceback."""

import json
import shutil

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import app_test, decode_array, plotly_spec

from course.text import char_label
from lessons import ui
from tinygpt import GPT, BigramConfig, BigramLM, GPTConfig, load_checkpoint, save_checkpoint

PAGE = "lessons/5_inside.py"
SHIPPED = ui.SHIPPED_DIR / "shakespeare-gpt.safetensors"
DEFAULT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "
SECTIONS = [
    "1 · What the embeddings learned",
    "2 · The architecture, one tensor per stage",
    "3 · One position, stage by stage",
    "4 · The logit lens: the guess forming with depth",
    "5 · Dropout: train mode against eval mode",
]
CHARTS = ["embed", "positions", "stage", "ln", "att", "heads", "stream", "hidden", "top", "lens"]
CHARTS += ["norms", "eval", "train", "top_eval", "top_train", "att_dropout", "mlp_dropout"]


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(SHIPPED)


@pytest.fixture
def at():
    st.cache_resource.clear()
    at = app_test(PAGE)
    at.run()
    assert not at.exception, at.exception
    yield at
    st.cache_resource.clear()


def chart(at, name: str) -> dict:
    return plotly_spec(at, f"inside_fig_{name}")


def bars(at, name: str) -> dict[str, float]:
    data = chart(at, name)["data"][0]
    return dict(zip(data["x"], decode_array(data["y"]).tolist(), strict=True))


def expected_top(model, text: str, temperature: float = 1.0) -> dict[str, float]:
    """The model's own 10 likeliest next characters after `text`, from a plain forward pass."""
    with torch.no_grad():
        logits = model.model(torch.tensor([model.tokenizer.encode(text)]))[0][0, -1]
    p, ids = (logits / temperature).softmax(-1).topk(10)
    return {char_label(model.tokenizer.itos[i]): v for i, v in zip(ids.tolist(), p.tolist(), strict=True)}


def test_every_section_renders_with_the_models_own_numbers(at, model):
    assert at.title[0].value == "Lesson 5 · Inside the trained model"
    assert [h.value for h in at.header] == SECTIONS
    for name in CHARTS:
        assert chart(at, name)["data"], name
    assert "shakespeare-gpt" in at.selectbox(key="inside_checkpoint").format_func(
        at.selectbox(key="inside_checkpoint").value
    )
    got, want = bars(at, "top"), expected_top(model, DEFAULT)
    assert list(got) == list(want) and np.allclose(list(got.values()), list(want.values()), atol=1e-5)
    assert bars(at, "top_eval") == got  # eval mode is the trace itself
    lens = chart(at, "lens")["data"][0]
    assert lens["y"][-1] == "after block 3 = the output"
    with torch.no_grad():
        guesses = model.model(torch.tensor([model.tokenizer.encode(DEFAULT)]))[0][0].argmax(-1)
    assert lens["text"][-1] == [char_label(model.tokenizer.itos[i]) for i in guesses.tolist()]
    assert "units firing" in [m.label for m in at.metric][0]
    sources = " ".join(e.label for e in at.expander)
    for name in ("GPT.embed", "GPT.forward", "Block.forward", "CausalSelfAttention.forward", "MLP.forward"):
        assert name in sources, name
    assert at.get("graphviz_chart")[0].proto.spec.count('fillcolor="#c2410c"') == 1


def test_editing_the_prompt_changes_the_charts(at, model):
    before = {
        name: json.dumps(chart(at, name)["data"]) for name in ("stage", "ln", "att", "stream", "lens", "top")
    }
    prompt = "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?"
    at.text_area(key="inside_prompt").input(prompt).run()
    assert not at.exception, at.exception
    for name, data in before.items():
        assert json.dumps(chart(at, name)["data"]) != data, name
    assert at.select_slider(key="inside_position").value == len(prompt) - 1
    got, want = bars(at, "top"), expected_top(model, prompt)
    assert list(got) == list(want)
    assert decode_array(chart(at, "lens")["data"][0]["z"]).shape == (5, len(prompt))


def test_a_stage_shows_its_tensor_and_the_diagram_marks_it(at):
    at.radio(key="inside_stage").set_value("hidden").run()
    at.selectbox(key="inside_stage_layer").set_value(2).run()
    assert not at.exception, at.exception
    spec = at.get("graphviz_chart")[0].proto.spec
    assert 'hidden [label="MLP: c_fc + GELU", shape=box, style="filled,rounded", fillcolor="#c2410c"' in spec
    assert "block 2 of 4" in spec
    stage = chart(at, "stage")
    assert decode_array(stage["data"][0]["z"]).shape == (64, 1024)
    assert stage["layout"]["title"]["text"] == "MLP hidden units (c_fc, act) in block 2: shape (64, 1024)"
    at.radio(key="inside_stage").set_value("logits").run()
    assert decode_array(chart(at, "stage")["data"][0]["z"]).shape == (64, 65)


def test_position_block_head_and_temperature_move_their_charts(at, model):
    at.select_slider(key="inside_position").set_value(20).run()
    at.selectbox(key="inside_layer").set_value(1).run()
    at.selectbox(key="inside_head").set_value(3).run()
    assert not at.exception, at.exception
    att = chart(at, "att")
    weights = decode_array(att["data"][2]["y"])
    with torch.no_grad():
        maps = model.model.attention_maps(torch.tensor([model.tokenizer.encode(DEFAULT)]))
    assert np.allclose(weights, maps[1, 0, 3, 20].numpy(), atol=1e-6)
    assert att["layout"]["title"]["text"].startswith("Query 20:")
    assert att["data"][3]["text"] == ["−∞"] * 43
    sharp = bars(at, "top")
    assert sharp == pytest.approx(expected_top(model, DEFAULT[:21]), abs=1e-5)
    at.slider(key="inside_temperature").set_value(2.0).run()
    flat = bars(at, "top")
    assert max(flat.values()) < max(sharp.values())
    assert flat == pytest.approx(expected_top(model, DEFAULT[:21], 2.0), abs=1e-5)


def test_dropout_zeroes_a_share_in_train_mode_only(at):
    texts = [m.value for m in at.markdown if "of x is 0" in m.value]
    assert texts[0] == "**`model.eval()`**: 0.0% of x is 0"
    train_share = float(texts[1].split(": ")[1].split("%")[0])
    assert 5 < train_share < 15  # the shipped model's p = 0.1
    assert len(chart(at, "train")["data"]) == 2 and len(chart(at, "eval")["data"]) == 1  # black = zeroed
    at.slider(key="inside_dropout").set_value(0.5).run()
    texts = [m.value for m in at.markdown if "of x is 0" in m.value]
    assert 45 < float(texts[1].split(": ")[1].split("%")[0]) < 55
    before = json.dumps(chart(at, "train")["data"])
    at.number_input(key="inside_dropout_seed").set_value(7).run()
    assert json.dumps(chart(at, "train")["data"]) != before


def test_layer_norm_against_batch_norm_shows_rows_against_columns(at):
    data = chart(at, "norms")["data"]  # LayerNorm's rows, its columns, then BatchNorm's
    layer_rows, layer_columns, batch_rows, batch_columns = (decode_array(d["y"]) for d in data)
    assert np.allclose(layer_rows, 1, atol=1e-3) and np.allclose(batch_columns, 1, atol=1e-3)
    assert layer_columns.std() > 0.05 and batch_rows.std() > 0.05


def test_dropout_inside_a_block_zeroes_attention_weights_and_the_feed_forward(at, model):
    weights, dropped = (decode_array(d["y"]) for d in chart(at, "att_dropout")["data"])
    maps = model.model.attention_maps(torch.tensor([model.tokenizer.encode(DEFAULT)]))
    assert np.allclose(weights, maps[0, 0, 0, len(DEFAULT) - 1].numpy(), atol=1e-6)  # block 0, head 0
    kept = dropped != 0
    assert not kept.all() and np.allclose(dropped[kept], weights[kept] / (1 - 0.1), rtol=1e-3)
    texts = [m.value for m in at.markdown if "of its output is 0" in m.value]
    assert 5 < float(texts[0].split(": ")[1].split("%")[0]) < 15  # the shipped model's p = 0.1
    assert len(chart(at, "mlp_dropout")["data"]) == 2  # the values, and the zeroed ones in black


def test_unknown_characters_get_a_warning(at):
    at.text_area(key="inside_prompt").input("Ça va? ✓").run()
    assert not at.exception, at.exception
    assert any("Not in this model's vocabulary" in w.value and "'✓'" in w.value for w in at.warning)


def test_without_a_checkpoint_the_page_says_what_to_do(no_shipped):
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    assert any("No trained Transformer checkpoint" in i.value for i in at.info)
    assert not at.header  # nothing to look inside yet


def test_a_bigram_upload_is_refused_with_a_message(no_shipped, tiny_checkpoint, tmp_path):
    shutil.copy(tiny_checkpoint, no_shipped / "tiny-gpt.safetensors")
    tok = load_checkpoint(tiny_checkpoint).tokenizer
    bigram = save_checkpoint(tmp_path / "bigram.safetensors", BigramLM(BigramConfig(tok.vocab_size)), tok)
    at = app_test(PAGE).run()
    assert [h.value for h in at.header] == SECTIONS  # the tiny run works too
    at.selectbox(key="inside_checkpoint").set_value(ui.UPLOAD).run()
    at.file_uploader(key="inside_checkpoint_upload").upload("bigram.safetensors", bigram.read_bytes()).run()
    assert not at.exception, at.exception
    assert any("is a bigram model" in e.value for e in at.error)


def test_a_model_with_pieces_switched_off_renders_what_it_has(no_shipped, tiny_checkpoint):
    tok = load_checkpoint(tiny_checkpoint).tokenizer
    config = GPTConfig.preset("tiny", vocab_size=tok.vocab_size, pos_emb=False, mlp=False, layer_norm=False)
    torch.manual_seed(0)
    save_checkpoint(no_shipped / "bare.safetensors", GPT(config).eval(), tok)
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.header] == SECTIONS
    infos = " ".join(i.value for i in at.info)
    assert "no position embeddings" in infos and "no feed-forward network" in infos
    stages = at.radio(key="inside_stage").options
    assert "position embedding (wpe)" not in stages and "MLP hidden units (c_fc, act)" not in stages
    spec = at.get("graphviz_chart")[0].proto.spec
    assert "pos_emb" not in spec and "LayerNorm: off ln_1" in spec
    at.text_area(key="inside_prompt").input("a longer prompt than eight characters").run()
    assert not at.exception, at.exception
    assert any("the first 29 were left out" in w.value for w in at.warning)
