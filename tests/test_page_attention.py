"""The attention lesson under AppTest: every slider and toggle changes the figures' data, the
trained-model section works with a real (tiny) checkpoint, and says so when there is none."""

import shutil

import numpy as np
import pytest
from conftest import app_test, decode_array, plotly_spec

from lessons.ui import TRAINING, lesson

PAGE = "lessons/2_attention.py"


def open_page():
    at = app_test("app.py")
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def z_of(at, key: str, trace: int = 0) -> np.ndarray:
    return np.asarray(decode_array(plotly_spec(at, key)["data"][trace]["z"]), dtype=float)


def y_of(at, key: str, trace: int = 0) -> np.ndarray:
    return np.asarray(decode_array(plotly_spec(at, key)["data"][trace]["y"]), dtype=float)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, equal_nan=True)


@pytest.fixture
def no_checkpoints(monkeypatch, runs_dir, tmp_path):
    """No shipped and no user checkpoints, whatever checkpoints/ holds in the repository."""
    import lessons.ui

    empty = tmp_path / "shipped"
    empty.mkdir()
    monkeypatch.setattr(lessons.ui, "SHIPPED_DIR", empty)
    return runs_dir


@pytest.fixture
def one_checkpoint(no_checkpoints, tiny_checkpoint):
    """Exactly one GPT checkpoint: the tiny training run, in the learner's runs folder."""
    shutil.copy(tiny_checkpoint, no_checkpoints / "tiny-gpt.safetensors")
    return no_checkpoints / "tiny-gpt.safetensors"


def test_versions_agree_and_the_page_says_so(no_checkpoints):
    at = open_page()
    x = z_of(at, "attn_fig_x")
    assert x.shape == (8, 8)
    weights = [z_of(at, f"attn_fig_v{i}_wei") for i in (1, 2, 3)]
    outputs = [z_of(at, f"attn_fig_v{i}_out") for i in (1, 2, 3)]
    for w, out in zip(weights, outputs, strict=True):
        assert np.allclose(w, weights[0]) and np.allclose(out, outputs[0], atol=1e-6)
    assert np.allclose(outputs[0], np.cumsum(x, 0) / np.arange(1, 9)[:, None], atol=1e-6)
    assert "agree" in at.success[0].value and "**True**" in at.success[0].value
    assert at.title[0].value == "Lesson 2 · The attention trick"


@pytest.mark.parametrize(
    ("kind", "key", "value", "charts"),
    [
        (
            "slider",
            "attn_T",
            11,
            ["attn_fig_x", "attn_fig_v1_wei", "attn_fig_v3_out", "attn_fig_wei", "attn_fig_head0"],
        ),
        ("slider", "attn_C", 4, ["attn_fig_x", "attn_fig_v2_out", "attn_fig_scores", "attn_fig_concat"]),
        (
            "slider",
            "attn_seed",
            7,
            ["attn_fig_x", "attn_fig_v1_out", "attn_fig_scores", "attn_fig_out", "attn_fig_head1"],
        ),
        (
            "slider",
            "attn_head_size",
            4,
            ["attn_fig_scores", "attn_fig_masked", "attn_fig_wei", "attn_fig_out"],
        ),
        (
            "toggle",
            "attn_causal",
            False,
            ["attn_fig_masked", "attn_fig_wei", "attn_fig_out", "attn_fig_head0"],
        ),
        (
            "toggle",
            "attn_scale",
            False,
            ["attn_fig_scores", "attn_fig_wei", "attn_fig_out", "attn_fig_head0"],
        ),
        ("select_slider", "attn_n_head", 4, ["attn_fig_head0", "attn_fig_concat"]),
    ],
)
def test_each_control_changes_the_figures(no_checkpoints, kind, key, value, charts):
    at = open_page()
    before = {name: z_of(at, name) for name in charts}
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, at.exception
    for name in charts:
        assert not same(z_of(at, name), before[name]), f"{key}={value} left {name} unchanged"


def test_toggles_do_what_they_say(no_checkpoints):
    at = open_page()
    scores = z_of(at, "attn_fig_scores")
    assert np.isnan(
        np.triu(z_of(at, "attn_fig_masked"), 1)[np.triu_indices(8, 1)]
    ).all()  # -inf is drawn blank
    assert np.allclose(np.triu(z_of(at, "attn_fig_wei"), 1), 0)
    at.toggle(key="attn_scale").set_value(False).run()
    assert np.allclose(z_of(at, "attn_fig_scores"), scores * 4.0, atol=1e-5)  # head size 16: √16 = 4
    at.toggle(key="attn_causal").set_value(False).run()
    wei = z_of(at, "attn_fig_wei")
    assert (np.triu(wei, 1) > 0).any() and np.allclose(wei.sum(1), 1, atol=1e-5)
    assert len(plotly_spec(at, "attn_fig_masked")["data"]) == 1  # no grey -inf layer without the mask


def test_why_scale_charts(no_checkpoints):
    at = open_page()
    variance = plotly_spec(at, "attn_fig_variance")
    unscaled, scaled = y_of(at, "attn_fig_variance", 0), y_of(at, "attn_fig_variance", 1)
    head_sizes = np.asarray(decode_array(variance["data"][0]["x"]), dtype=float)
    assert np.allclose(unscaled / head_sizes, 1, atol=0.2) and np.allclose(scaled, 1, atol=0.2)
    assert variance["layout"]["shapes"][0]["x0"] == 16
    at.slider(key="attn_head_size").set_value(64).run()
    assert plotly_spec(at, "attn_fig_variance")["layout"]["shapes"][0]["x0"] == 64
    warm = y_of(at, "attn_fig_temperature")
    assert warm.max() < 0.35
    at.slider(key="attn_temperature").set_value(0.05).run()
    cold = y_of(at, "attn_fig_temperature")
    assert cold.max() > 0.95 and np.argmax(cold) == 4 and np.isclose(cold.sum(), 1)


def test_multi_head_split(no_checkpoints):
    at = open_page()
    at.select_slider(key="attn_n_head").set_value(4).run()
    heads = [z_of(at, f"attn_fig_head{h}") for h in range(4)]
    assert all(h.shape == (8, 8) and np.allclose(h.sum(1), 1, atol=1e-5) for h in heads)
    assert not same(heads[0], heads[1])
    assert z_of(at, "attn_fig_concat").shape == (8, 8)
    assert len(plotly_spec(at, "attn_fig_concat")["layout"]["shapes"]) == 3  # lines between 4 heads
    with pytest.raises(KeyError):
        plotly_spec(at, "attn_fig_head4")


def test_no_checkpoint_points_to_the_training_lesson(no_checkpoints):
    at = open_page()
    assert any("No trained Transformer checkpoint yet" in info.value for info in at.info)
    links = {link.proto.label: link.proto.page for link in at.get("page_link")}
    assert links[f"Go to {lesson(TRAINING).title}"] == "training", links
    with pytest.raises(KeyError):
        plotly_spec(at, "attn_fig_trained")


def test_trained_model_attention(one_checkpoint):
    at = open_page()
    assert "tiny-gpt" in at.selectbox(key="attn_ckpt").value
    spec = plotly_spec(at, "attn_fig_trained")
    weights = z_of(at, "attn_fig_trained")
    assert weights.shape == (8, 8)  # the tiny model's block_size: the prompt keeps its last 8 characters
    assert np.allclose(weights.sum(1), 1, atol=1e-5) and np.allclose(np.triu(weights, 1), 0)
    assert spec["data"][0]["x"] == ["0:␣", "1:b", "2:r", "3:e", "4:a", "5:k", "6:s", "7:?"]
    assert any("first 49 were left out" in info.value for info in at.info)

    at.selectbox(key="attn_layer").set_value(1).run()
    layer1 = z_of(at, "attn_fig_trained")
    assert not same(layer1, weights)
    at.selectbox(key="attn_head").set_value(1).run()
    assert not same(z_of(at, "attn_fig_trained"), layer1)

    at.text_area(key="attn_prompt").set_value("to bé").run()
    assert not at.exception
    assert plotly_spec(at, "attn_fig_trained")["data"][0]["y"] == ["0:t", "1:o", "2:␣", "3:b", "4:␣"]
    assert "'é'" in at.warning[0].value

    at.text_area(key="attn_prompt").set_value("").run()
    assert not at.exception
    assert any("Type a prompt" in info.value for info in at.info)
    with pytest.raises(KeyError):
        plotly_spec(at, "attn_fig_trained")


@pytest.mark.parametrize(("T", "C", "head_size"), [(2, 1, 1), (16, 16, 64), (5, 7, 3)])
def test_extreme_settings_draw_without_errors(no_checkpoints, T, C, head_size):
    at = open_page()
    at.slider(key="attn_T").set_value(T)
    at.slider(key="attn_C").set_value(C)
    at.slider(key="attn_head_size").set_value(head_size).run()
    assert not at.exception, at.exception
    assert z_of(at, "attn_fig_x").shape == (T, C)
    assert z_of(at, "attn_fig_out").shape == (T, head_size)
    assert "**True**" in at.success[0].value
    if C == 1:  # one channel splits only one way: no heads slider
        assert not [s for s in at.select_slider if s.key == "attn_n_head"]
    else:
        options = at.select_slider(key="attn_n_head").options
        at.select_slider(key="attn_n_head").set_value(options[-1]).run()
        assert not at.exception, at.exception
        assert z_of(at, "attn_fig_concat").shape == (T, C)
