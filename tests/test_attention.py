"""course.attention: the lecture's four versions, the scaling statistics, the multi-head split,
and the attention weights of a trained checkpoint."""

import math

import pytest
import torch
from torch.nn import functional as F

from course import attention
from tinygpt import BigramConfig, BigramLM, CharTokenizer, load_checkpoint, save_checkpoint


@pytest.mark.parametrize(("T", "C", "seed"), [(1, 1, 0), (8, 2, 1337), (16, 5, 3), (5, 32, 42)])
def test_versions_1_to_3_agree_on_random_inputs(T, C, seed):
    x = attention.toy_input(T, C, seed)
    demo = attention.averaging_trick(x)
    expected = x.cumsum(0) / torch.arange(1, T + 1)[:, None]  # the running mean, by a different route
    for version in demo.versions:
        torch.testing.assert_close(version.out, expected)
    assert demo.allclose
    assert demo.max_abs_diff < 1e-5


def test_all_three_versions_use_the_same_weights():
    demo = attention.averaging_trick(attention.toy_input(6, 3))
    w1, w2, w3 = (v.wei for v in demo.versions)
    torch.testing.assert_close(w1, w2)
    torch.testing.assert_close(w2, w3)
    assert w2[2].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert torch.equal(w2.triu(1), torch.zeros(6, 6))


def test_toy_input_is_seeded_and_checked():
    assert torch.equal(attention.toy_input(4, 3, 7), attention.toy_input(4, 3, 7))
    assert not torch.equal(attention.toy_input(4, 3, 7), attention.toy_input(4, 3, 8))
    with pytest.raises(ValueError):
        attention.toy_input(0, 3)


def _attention(causal=True, scale=True, T=8, C=6, head_size=4, seed=0, x=None):
    x = attention.toy_input(T, C, seed) if x is None else x
    return attention.self_attention(x, attention.random_head(C, head_size, seed), causal=causal, scale=scale)


def test_version_4_with_the_mask_is_causal():
    att = _attention(causal=True)
    assert torch.equal(att.wei.triu(1), torch.zeros(8, 8))
    assert torch.isneginf(att.masked.triu(1)[torch.ones(8, 8).triu(1).bool()]).all()
    torch.testing.assert_close(att.wei.sum(-1), torch.ones(8))
    x = attention.toy_input(8, 6, 0)
    changed = x.clone()
    changed[5:] += 3.0  # change the future of position 4
    after = _attention(causal=True, x=changed)
    torch.testing.assert_close(after.out[:5], att.out[:5])


def test_version_4_without_the_mask_is_not_causal():
    att = _attention(causal=False)
    assert (att.wei.triu(1) > 0).any()
    assert torch.equal(att.masked, att.scores)
    torch.testing.assert_close(att.wei.sum(-1), torch.ones(8))
    x = attention.toy_input(8, 6, 0)
    changed = x.clone()
    changed[5:] += 3.0
    after = _attention(causal=False, x=changed)
    assert not torch.allclose(after.out[:5], att.out[:5])


def test_version_4_scaling_divides_the_scores_by_sqrt_head_size():
    scaled, unscaled = _attention(scale=True, head_size=16), _attention(scale=False, head_size=16)
    torch.testing.assert_close(scaled.scores * 4.0, unscaled.scores)
    assert not torch.allclose(scaled.wei, unscaled.wei)


def test_version_4_matches_pytorch_attention():
    att = _attention(T=7, C=5, head_size=3)
    expected = F.scaled_dot_product_attention(att.q, att.k, att.v, is_causal=True)
    torch.testing.assert_close(att.out, expected)


def test_random_head_is_seeded_like_nn_linear():
    head = attention.random_head(16, 8, seed=3)
    assert head.key.shape == (8, 16) and head.head_size == 8
    assert torch.equal(head.query, attention.random_head(16, 8, seed=3).query)
    assert head.value.abs().max() <= 1 / math.sqrt(16)
    assert not torch.equal(head.key, head.query)


def test_multi_head_is_independent_heads_concatenated():
    x = attention.toy_input(6, 8, 1)
    multi = attention.multi_head_attention(x, n_head=4, seed=5)
    full = attention.random_head(8, 8, seed=5)
    singles = [attention.self_attention(x, attention.split_head(full, h, 2)) for h in range(4)]
    assert multi.out.shape == (6, 8)
    torch.testing.assert_close(multi.out, torch.cat([s.out for s in singles], dim=-1))
    for mine, single in zip(multi.heads, singles, strict=True):
        torch.testing.assert_close(mine.wei, single.wei)
    assert not torch.allclose(multi.heads[0].wei, multi.heads[1].wei)
    # then the output projection: same shape, a new mix of the heads, fixed by the seed
    assert multi.proj.shape == (6, 8) and not torch.allclose(multi.proj, multi.out)
    torch.testing.assert_close(attention.multi_head_attention(x, n_head=4, seed=5).proj, multi.proj)


def test_multi_head_needs_a_divisor_of_c():
    with pytest.raises(ValueError, match="divisible"):
        attention.multi_head_attention(attention.toy_input(4, 6), n_head=4)


def test_score_variance_grows_with_head_size_unless_scaled():
    stats = attention.score_variance(head_sizes=(1, 4, 16, 64, 256), n_samples=20_000, seed=1)
    for hs, unscaled, scaled in zip(stats.head_sizes, stats.var_unscaled, stats.var_scaled, strict=True):
        assert unscaled / hs == pytest.approx(1.0, abs=0.1)  # var(q·k) ≈ head_size
        assert scaled == pytest.approx(1.0, abs=0.1)  # var(q·k / √hs) ≈ 1
    assert stats.var_unscaled[-1] > 100 * stats.var_unscaled[0]


def test_low_temperature_collapses_softmax_toward_one_hot():
    cold = attention.softmax_temperature(attention.LECTURE_SCORES, 0.02)
    warm = attention.softmax_temperature(attention.LECTURE_SCORES, 1.0)
    hot = attention.softmax_temperature(attention.LECTURE_SCORES, 100.0)
    assert cold.argmax() == 4 and cold.max() > 0.99
    assert warm.max() < 0.35
    assert hot.max() - hot.min() < 0.01
    torch.testing.assert_close(cold.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError):
        attention.softmax_temperature(attention.LECTURE_SCORES, 0.0)


# ---- a trained checkpoint ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def test_trained_attention_rows_sum_to_one_and_the_future_is_zero(ckpt):
    maps = attention.model_attention(ckpt, "to be or")
    n_layer, n_head, block = ckpt.config.n_layer, ckpt.config.n_head, ckpt.config.block_size
    assert maps.weights.shape == (n_layer, n_head, 8, 8) and 8 <= block
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(n_layer, n_head, 8))
    assert torch.equal(maps.weights.triu(1), torch.zeros_like(maps.weights))
    assert maps.text == "to be or" and not maps.unknown and maps.cropped == 0


def test_trained_attention_labels_keep_repeated_characters_apart(ckpt):
    maps = attention.model_attention(ckpt, "aa a\n")
    assert maps.labels == ("0:a", "1:a", "2:␣", "3:a", "4:⏎")
    assert len(set(maps.labels)) == len(maps.labels)


def test_trained_attention_replaces_unknown_characters_and_crops(ckpt):
    block = ckpt.config.block_size
    prompt = "é" + "a" * (block - 2) + "ü"
    maps = attention.model_attention(ckpt, prompt)
    assert maps.unknown == ("é", "ü")
    assert maps.replacement == ckpt.tokenizer.default_replacement()
    assert maps.text.endswith(maps.replacement) and len(maps.text) == block
    long = attention.model_attention(ckpt, "tea" * block)
    assert long.cropped == 2 * block and long.weights.shape[-1] == block
    assert long.text == ("tea" * block)[-block:] and not long.unknown


def test_trained_attention_refuses_an_empty_prompt_and_a_bigram(ckpt, tmp_path):
    with pytest.raises(ValueError, match="at least one character"):
        attention.model_attention(ckpt, "")
    tok = CharTokenizer("abc ")
    path = save_checkpoint(tmp_path / "bigram.safetensors", BigramLM(BigramConfig(vocab_size=4)), tok)
    with pytest.raises(ValueError, match="bigram"):
        attention.model_attention(load_checkpoint(path), "abc")
