"""The closing lesson's numbers (course/beyond.py): parameter counts on the meta device, the scale rows
read from checkpoint metadata, training compute, and fine-tuning a copy with the library's train()."""

from __future__ import annotations

import pytest
import torch

from course import beyond
from course.figures import beyond as figures
from tinygpt import GPT, GPTConfig, count_parameters, load_checkpoint
from tinygpt.bigram import BigramConfig
from tinygpt.checkpoint import read_metadata


@pytest.mark.parametrize(
    "config",
    [GPTConfig.preset("tiny", vocab_size=65), GPTConfig.preset("small", vocab_size=65), GPTConfig(bias=True)],
)
def test_meta_count_equals_a_real_model(config):
    assert beyond.parameters_of("gpt", config) == count_parameters(GPT(config))


def test_the_page_count_at_any_size_is_the_models_own():
    for n_layer in (1, 2, 5):
        shape = beyond.gpt_shape(n_layer, 48, 16, 65)
        assert beyond.gpt_parameters(n_layer, 48, 16, 65) == count_parameters(GPT(shape))
    gpt3 = beyond.gpt_shape(96, 12288, 2048, beyond.GPT2_VOCAB)
    assert beyond.gpt_parameters(96, 12288, 2048, beyond.GPT2_VOCAB) == beyond.parameters_of("gpt", gpt3)


def test_famous_shapes():
    assert beyond.parameters_of("bigram", BigramConfig(vocab_size=65)) == 65 * 65
    lecture, gpt3 = beyond.published_scales()
    # The lecture's gpt.py prints 10.788929 M with biases; ours has none (one bias per output channel).
    assert lecture.params == 10_770_048 and lecture.published - lecture.params == 18_881
    assert lecture.train_tokens == 81_920_000
    # GPT-3's shape in our class: within 0.2% of the reported 175B (we do not tie wte and lm_head).
    assert gpt3.params == pytest.approx(175e9, rel=0.002)
    assert gpt3.flops == pytest.approx(3.15e23)  # 6 × 175B × 300B: the GPT-3 paper's 3.14e23
    assert gpt3.tokens_per_param == pytest.approx(300 / 175)


def test_scale_rows_from_the_shipped_metadata():
    shipped = [(p, read_metadata(p)) for p in ("checkpoints/shakespeare-bigram.safetensors",)]
    shipped.append(
        ("checkpoints/shakespeare-gpt.safetensors", read_metadata("checkpoints/shakespeare-gpt.safetensors"))
    )
    rows, rate = beyond.scale_rows(shipped)
    assert [r.name for r in rows] == ["Bigram (shipped)", "TinyGPT (shipped)", "The lecture's GPT", "GPT-3"]
    bigram, gpt = rows[:2]
    assert (bigram.params, bigram.train_tokens) == (4_225, 3000 * 32 * 8)
    assert (gpt.params, gpt.train_tokens) == (3_214_080, 4000 * 64 * 128)  # block_size from the model config
    elapsed = read_metadata("checkpoints/shakespeare-gpt.safetensors")["summary"]["elapsed_seconds"]
    assert rate == pytest.approx(6 * 3_214_080 * 4000 * 64 * 128 / elapsed)
    frame = figures.scale_frame(rows, rate)
    assert frame["on this project's CPU"].iloc[1] == "1 h 18 min"  # the shipped model's own time
    assert frame["parameters"].tolist() == ["4,225", "3.21M", "10.77M", "175B"]
    assert "on this project's CPU" not in figures.scale_frame(rows, None)


def test_scale_figure_places_every_model():
    rows = beyond.published_scales()
    mine = beyond.Scale("your GPT", 1000, None, 1, 8, 8, 65, 20_000)
    fig = figures.scale_figure(rows, mine)
    assert list(fig.data[1].x) == [10_788_929, 175e9] and list(fig.data[1].y) == [81_920_000, 300e9]
    assert fig.data[2].x == (1000,) and fig.data[2].y == (20_000,)


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def test_fine_tune_trains_a_copy(tiny):
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    seen = []
    tuned = beyond.fine_tune(tiny, beyond.qa_text(), steps=12, progress=seen.append)
    assert len(tuned.losses) == 12 and seen[-1] == 1.0
    assert tuned.losses[-1] < tuned.losses[0]  # it learns the pairs
    assert all(torch.equal(v, tiny.model.state_dict()[k]) for k, v in before.items())  # original untouched
    assert not torch.equal(tuned.model.lm_head.weight, tiny.model.lm_head.weight)
    assert not tuned.model.training
    text = beyond.answer(tuned.model, tiny, "Who art thou?", max_new_tokens=20)
    prompt = beyond.question_prompt("Who art thou?")
    assert text.startswith(prompt) and len(text) == len(prompt) + 20


def test_fine_tune_reports_unknown_characters_and_refuses_empty_text(tiny):
    tuned = beyond.fine_tune(tiny, "QUESTION: ¿qué?\nANSWER: sí\n", steps=1)
    assert "¿" in tuned.unknown and "é" in tuned.unknown
    with pytest.raises(ValueError, match="at least two"):
        beyond.fine_tune(tiny, "a", steps=1)
