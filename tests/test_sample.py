"""Sampling: determinism, temperature and top-k, the context window, and KV cache = no cache."""

import pytest
import torch

from tinygpt import GPT, BigramConfig, BigramLM, SampleConfig, generate, generate_text, load_checkpoint
from tinygpt.sample import next_token_probs, window_start


def tokens(model, idx, **cfg):
    return [s.token for s in generate(model, idx, SampleConfig(**cfg))]


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    return GPT(tiny_cfg)


def test_deterministic_under_a_seed(model):
    a = tokens(model, [1, 2], max_new_tokens=30, seed=5)
    assert a == tokens(model, [1, 2], max_new_tokens=30, seed=5)
    assert a != tokens(model, [1, 2], max_new_tokens=30, seed=6)
    assert len(a) == 30


@pytest.mark.parametrize("prompt_len", [1, 5, 8, 20])
def test_kv_cache_equals_no_cache(tiny_checkpoint, prompt_len):
    model = load_checkpoint(tiny_checkpoint).model  # trained, so its distributions are peaked
    prompt = list(range(1, prompt_len + 1))
    for seed in range(3):
        cached = tokens(model, prompt, max_new_tokens=60, seed=seed, use_cache=True)
        full = tokens(model, prompt, max_new_tokens=60, seed=seed, use_cache=False)
        assert cached == full


def test_cached_and_full_probabilities_match(model):
    a = [s.probs for s in generate(model, [3], SampleConfig(max_new_tokens=25, seed=1), with_probs=True)]
    b = [
        s.probs
        for s in generate(
            model, [3], SampleConfig(max_new_tokens=25, seed=1, use_cache=False), with_probs=True
        )
    ]
    assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a, b, strict=True))


def test_window_start_keeps_context_and_moves_in_half_blocks():
    assert window_start(8, 8) == 0
    assert [window_start(n, 8) for n in range(9, 18)] == [4, 4, 4, 4, 8, 8, 8, 8, 12]
    for n in range(1, 600):
        start = window_start(n, 256)
        assert 0 <= n - start <= 256 and (n <= 256 or n - start > 128)
    assert window_start(5, 1) == 4  # the bigram sees only the last token


def test_top_k_and_temperature():
    logits = torch.tensor([1.0, 2.0, 3.0, 4.0])
    probs = next_token_probs(logits, top_k=2)
    assert probs[:2].sum() == 0 and torch.isclose(probs.sum(), torch.tensor(1.0))
    cold, hot = next_token_probs(logits, 0.1), next_token_probs(logits, 10.0)
    assert cold.max() > 0.99 and hot.max() < 0.3
    assert tokens(GPT_fixed(), [0], max_new_tokens=5, top_k=1) == [3] * 5


def GPT_fixed():
    """A bigram whose every row prefers token 3, so top-1 sampling must always pick it."""
    model = BigramLM(BigramConfig(vocab_size=4))
    with torch.no_grad():
        model.token_embedding_table.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 5.0]]).repeat(4, 1))
    return model


def test_greedy_and_bad_configs():
    assert tokens(GPT_fixed(), [1], max_new_tokens=3, greedy=True) == [3, 3, 3]
    with pytest.raises(ValueError):
        SampleConfig(temperature=0)
    with pytest.raises(ValueError):
        SampleConfig(top_k=0)
    with pytest.raises(ValueError, match="at least one token"):
        list(generate(GPT_fixed(), [], SampleConfig(max_new_tokens=1)))


def test_generate_restores_training_mode(model):
    model.train()
    list(generate(model, [1], SampleConfig(max_new_tokens=3)))
    assert model.training


def test_generate_text_handles_unknown_and_empty_prompts(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    out = generate_text(ckpt.model, ckpt.tokenizer, "ROMEO€", SampleConfig(max_new_tokens=20, seed=1))
    assert len(out) == 20 and not ckpt.tokenizer.unknown(out)
    assert len(generate_text(ckpt.model, ckpt.tokenizer, "", SampleConfig(max_new_tokens=5, seed=1))) == 5
