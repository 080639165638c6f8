"""The generation page under AppTest: it renders a checkpoint's card, generates the library's exact
text under a seed, handles unknown prompt characters and bad uploads with messages, compares the
bigram with the Transformer, and steps through the sampling distribution."""

import os
import shutil

import pytest
import streamlit as st
import torch
from conftest import app_test, decode_array, plotly_spec
from safetensors.torch import save as save_safetensors

import lessons.ui as ui
from course.generation import as_markdown
from tinygpt import BigramConfig, BigramLM, SampleConfig, generate_text, load_checkpoint, save_checkpoint
from tinygpt.models import count_parameters

PAGE = "lessons/6_generate.py"
PROMPT = "ROMEO:\n"


@pytest.fixture
def runs(runs_dir, tiny_checkpoint):
    """The learner's runs folder with a tiny GPT and a bigram over the same vocabulary."""
    st.cache_resource.clear()
    gpt = runs_dir / "tiny-gpt.safetensors"
    shutil.copy(tiny_checkpoint, gpt)
    tok = load_checkpoint(gpt).tokenizer
    torch.manual_seed(0)
    bigram = save_checkpoint(
        runs_dir / "tiny-bigram.safetensors", BigramLM(BigramConfig(tok.vocab_size)), tok
    )
    yield {"gpt": gpt, "bigram": bigram}
    st.cache_resource.clear()


def open_page(path=None):
    """The app switched to the generation page, with checkpoint `path` picked."""
    at = app_test("app.py")
    at.run()
    at.switch_page(PAGE).run()
    if path is not None:
        at.selectbox(key="generate_checkpoint").set_value(str(path)).run()
    assert not at.exception, at.exception
    return at


def click_generate(at) -> str:
    at.button(key="generate_go").click().run()
    assert not at.exception, at.exception
    return at.session_state["generate_result"]["text"]


def expected_text(path, prompt=PROMPT, **cfg) -> str:
    ckpt = load_checkpoint(path)
    cfg = {"max_new_tokens": 500, "temperature": 0.8, "seed": 1337, **cfg}
    return prompt + generate_text(ckpt.model, ckpt.tokenizer, prompt, SampleConfig(**cfg))


def test_the_page_renders_the_model_card(runs):
    at = open_page(runs["gpt"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == f"{count_parameters(load_checkpoint(runs['gpt']).model):,}"
    assert metrics["Training steps"] == "30" and metrics["Trained on"] == "CPU"
    assert float(metrics["Val loss"]) == pytest.approx(
        load_checkpoint(runs["gpt"]).summary["val_loss"], abs=1e-3
    )
    curve = plotly_spec(at, "generate_loss_chart")
    assert [t["name"] for t in curve["data"]] == ["train_loss", "val_loss"]
    assert list(decode_array(curve["data"][0]["x"])) == [30]
    assert any("n_layer 2" in m.value for m in at.markdown)
    labels = at.selectbox(key="generate_checkpoint").options
    assert any("tiny-gpt" in label for label in labels) and any("tiny-bigram" in label for label in labels)


def test_generation_is_the_librarys_text_and_repeats_under_a_seed(runs):
    at = open_page(runs["gpt"])
    first = click_generate(at)
    assert first == expected_text(runs["gpt"]) and len(first) == len(PROMPT) + 500
    assert as_markdown(first) in [m.value for m in at.markdown]  # it is on the page
    speed = next(c.value for c in at.caption if "characters/s" in c.value)
    assert "500 characters" in speed and "KV cache on" in speed and "seed 1337" in speed
    assert click_generate(at) == first
    at.number_input(key="generate_seed").set_value(1).run()
    other = click_generate(at)
    assert other != first and other == expected_text(runs["gpt"], seed=1)


def test_settings_reach_the_sampler_and_the_cache_does_not_change_the_text(runs):
    at = open_page(runs["gpt"])
    at.slider(key="generate_chars").set_value(100).run()
    at.slider(key="generate_temperature").set_value(1.3).run()
    at.select_slider(key="generate_top_k").set_value(5).run()
    cached = click_generate(at)
    assert cached == expected_text(runs["gpt"], max_new_tokens=100, temperature=1.3, top_k=5)
    at.toggle(key="generate_cache").set_value(False).run()
    assert click_generate(at) == cached
    assert any("KV cache off" in c.value for c in at.caption)


def test_unknown_prompt_characters_are_shown_and_replaced(runs):
    at = open_page(runs["gpt"])
    at.text_area(key="generate_prompt").input("ROMEO: ¿Qué? 😀").run()
    assert not at.exception
    warning = at.warning[0].value
    assert "'¿'" in warning and "'é'" in warning and "'😀'" in warning
    text = click_generate(at)
    assert text.startswith("ROMEO:  Qu ?  ")
    assert text == expected_text(runs["gpt"], prompt="ROMEO: ¿Qué? 😀").replace(
        "ROMEO: ¿Qué? 😀", "ROMEO:  Qu ?  ", 1
    )


def foreign_safetensors() -> bytes:
    return save_safetensors({"weight": torch.zeros(2, 2)}, metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda good: b"PK\x03\x04 a zip, not a checkpoint", "not a safetensors file"),
        (lambda good: good[: len(good) // 2], "truncated"),
        (lambda good: b"", "too short"),
        (lambda good: foreign_safetensors(), "not a TinyGPT checkpoint"),
    ],
    ids=["garbage", "truncated", "empty", "foreign"],
)
def test_a_bad_upload_gives_a_clear_message(runs, content, reason):
    at = open_page()
    at.selectbox(key="generate_checkpoint").set_value("upload").run()
    bad = content(runs["gpt"].read_bytes())
    at.file_uploader(key="generate_checkpoint_upload").set_value(
        ("model.safetensors", bad, "application/octet-stream")
    ).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "model.safetensors" in errors[0] and reason in errors[0]
    assert not at.metric and not at.tabs  # nothing is drawn from a file that failed


def test_an_uploaded_checkpoint_generates(runs):
    at = open_page()
    at.selectbox(key="generate_checkpoint").set_value("upload").run()
    at.file_uploader(key="generate_checkpoint_upload").set_value(
        ("mine.safetensors", runs["gpt"].read_bytes(), "")
    ).run()
    assert not at.exception and not at.error
    assert any("**mine**" in m.value for m in at.markdown)  # the card is titled by the file
    assert click_generate(at) == expected_text(runs["gpt"])


@pytest.fixture
def nothing_shipped(tmp_path, monkeypatch):
    """Hide the shipped checkpoints, leaving the learner's runs only."""
    monkeypatch.setattr(ui, "SHIPPED_DIR", tmp_path / "nothing-shipped")


def test_no_checkpoint_says_so_and_links_to_training(runs_dir, nothing_shipped):
    at = open_page()
    assert "No trained checkpoint yet" in at.info[0].value
    links = [link.proto for link in at.get("page_link")]
    assert any(link.page.endswith("4_training.py") or "Train" in link.label for link in links)
    assert at.selectbox(key="generate_checkpoint").value == "upload" and not at.metric


def test_bigram_and_transformer_continue_the_same_prompt(runs):
    at = open_page(runs["gpt"])
    at.slider(key="generate_chars").set_value(150).run()
    for kind in ("bigram", "gpt"):
        at.selectbox(key=f"generate_vs_{kind}").set_value(runs[kind])
    at.button(key="generate_vs_go").click().run()
    assert not at.exception, at.exception
    for kind in ("bigram", "gpt"):
        text = at.session_state[f"generate_vs_{kind}_result"]["text"]
        assert text == expected_text(runs[kind], max_new_tokens=150)
    assert (
        at.session_state["generate_vs_bigram_result"]["text"]
        != at.session_state["generate_vs_gpt_result"]["text"]
    )


def test_the_compare_tab_asks_for_the_missing_model(runs, nothing_shipped):
    runs["bigram"].unlink()
    at = open_page(runs["gpt"])
    assert any("needs a bigram and a Transformer" in i.value for i in at.info)


def _bars(at):
    spec = plotly_spec(at, "generate_step_chart")
    model, shaped = spec["data"]
    return (
        list(model["x"]),
        decode_array(model["y"]),
        decode_array(shaped["y"]),
        spec["layout"]["annotations"],
    )


def test_step_through_marks_the_sample_and_the_sliders_reshape_it(runs):
    at = open_page(runs["gpt"])
    x, model, shaped, notes = _bars(at)
    assert len(x) >= 10 and list(model) == sorted(model, reverse=True)  # top candidates, likeliest first
    assert [n["text"] for n in notes] == ["sampled"] and notes[0]["x"] in x
    at.slider(key="generate_temperature").set_value(0.3).run()
    x2, model2, colder, _ = _bars(at)
    # the model's own top 10 do not move (an 11th bar, the sampled character when it ranks lower, may)
    assert x2[:10] == x[:10] and model2[:10] == pytest.approx(model[:10])
    assert colder.max() > shaped.max()  # a lower temperature sharpens what is sampled from
    at.select_slider(key="generate_top_k").set_value(1).run()
    _, _, top1, notes = _bars(at)
    assert sorted(top1)[-2:] == pytest.approx([0.0, 1.0]) and notes[0]["x"] == x[int(top1.argmax())]
    at.slider(key="generate_step").set_value(6).run()
    assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Its probability") == "100.0%"


def test_a_shipped_transformer_is_picked_first(runs, tmp_path, monkeypatch):
    """On a first visit the default is the shipped Transformer, even when a newer run of the learner exists."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for kind in ("bigram", "gpt"):
        path = shutil.copy(runs[kind], shipped / f"shakespeare-{kind}.safetensors")
        os.utime(path, (1e9, 1e9))  # shipped in 2001: older than the learner's runs
    monkeypatch.setattr(ui, "SHIPPED_DIR", shipped)
    at = open_page()
    box = at.selectbox(key="generate_checkpoint")
    assert box.value == str(shipped / "shakespeare-gpt.safetensors")
    assert "shipped" in box.options[0] and "tiny-gpt" in " ".join(box.options)
    assert at.selectbox(key="generate_vs_bigram").value == shipped / "shakespeare-bigram.safetensors"
