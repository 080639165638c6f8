"""The GPT and the bigram: shapes, initial loss, causality, attention modes, overfitting one batch."""

import math

import pytest
import torch

from tinygpt.bigram import BigramConfig, BigramLM
from tinygpt.gpt import GPT, ConfigError, GPTConfig, config_problems, explicit_attention, fast_attention
from tinygpt.models import count_parameters


def test_logits_shape_and_loss(tiny_cfg):
    model = GPT(tiny_cfg)
    idx = torch.randint(0, tiny_cfg.vocab_size, (3, tiny_cfg.block_size))
    logits, loss = model(idx)
    assert logits.shape == (3, tiny_cfg.block_size, tiny_cfg.vocab_size) and loss is None
    _, loss = model(idx, idx)
    assert loss.ndim == 0


def test_initial_loss_is_about_ln_vocab():
    torch.manual_seed(0)
    cfg = GPTConfig.preset("cpu", vocab_size=65)
    model = GPT(cfg)
    idx = torch.randint(0, 65, (8, cfg.block_size))
    _, loss = model(idx, torch.randint(0, 65, (8, cfg.block_size)))
    assert abs(loss.item() - math.log(65)) < 0.1


def test_gpt_is_causal(tiny_cfg):
    torch.manual_seed(0)
    model = GPT(tiny_cfg).eval()
    idx = torch.randint(0, tiny_cfg.vocab_size, (2, tiny_cfg.block_size))
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % tiny_cfg.vocab_size
    before, _ = model(idx)
    after, _ = model(changed)
    assert torch.equal(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


def test_explicit_and_fast_attention_agree(tiny_cfg):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    out, weights = explicit_attention(q, k, v, scale=8**-0.5)
    assert torch.allclose(out, fast_attention(q, k, v, scale=8**-0.5), atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 10))
    assert torch.all(weights.triu(1) == 0)
    # a model in explicit mode gives the same logits as in fast mode with the same weights
    fast = GPT(tiny_cfg).eval()
    slow = GPT(tiny_cfg.replace(use_flash=False)).eval()
    slow.load_state_dict(fast.state_dict())
    idx = torch.randint(0, tiny_cfg.vocab_size, (2, tiny_cfg.block_size))
    assert torch.allclose(fast(idx)[0], slow(idx)[0], atol=1e-5)


def test_attention_maps(tiny_cfg):
    model = GPT(tiny_cfg).eval()
    maps = model.attention_maps(torch.randint(0, tiny_cfg.vocab_size, (1, 6)))
    assert maps.shape == (tiny_cfg.n_layer, 1, tiny_cfg.n_head, 6, 6)
    assert torch.allclose(maps.sum(-1), torch.ones_like(maps.sum(-1)))


def test_sequence_longer_than_block_is_refused(tiny_cfg):
    with pytest.raises(ValueError, match="longer than block_size"):
        GPT(tiny_cfg)(torch.zeros(1, tiny_cfg.block_size + 1, dtype=torch.long))


def test_config_problems_are_plain_sentences():
    with pytest.raises(ConfigError, match="divisible") as refused:
        GPTConfig(n_embd=30, n_head=4, dropout=1.5)
    assert len(refused.value.problems) == 2 and isinstance(refused.value, ValueError)
    assert config_problems(GPTConfig()) == []
    with pytest.raises(ValueError, match="unknown preset"):
        GPTConfig.preset("huge")


def test_lecture_preset_is_the_10_8m_model():
    model = GPT(GPTConfig.preset("lecture", vocab_size=65))
    assert 10.7e6 < count_parameters(model) < 10.9e6


@pytest.mark.parametrize("kind", ["gpt", "bigram"])
def test_tiny_model_overfits_one_batch(kind, tiny_cfg):
    torch.manual_seed(0)
    model = GPT(tiny_cfg) if kind == "gpt" else BigramLM(BigramConfig(vocab_size=tiny_cfg.vocab_size))
    x = torch.randint(0, tiny_cfg.vocab_size, (4, tiny_cfg.block_size))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2 if kind == "gpt" else 1.0)
    for _ in range(200):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the bigram cannot memorise 32 positions with one table, but it must fall far below chance
    assert loss.item() < (0.05 if kind == "gpt" else 1.5)
