"""The GPT and the bigram: shapes, initial loss, causality, attention modes, overfitting one batch."""

import math

import pytest
import torch

from tinygpt import gpt
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


def test_sliced_attention_equals_the_whole_in_output_and_gradients(monkeypatch):
    """Attention a few sequences at a time: the same numbers as in one piece, laid out with the heads
    side by side, and dropout still drops within each slice."""
    torch.manual_seed(0)
    whole_in = [torch.randn(3, 4, 16, 8, requires_grad=True) for _ in range(3)]
    sliced_in = [t.detach().clone().requires_grad_() for t in whole_in]
    monkeypatch.setattr(gpt, "SLICE_BYTES", 4 * 16 * 16 * 4 * 2)  # 2 sequences a slice: 3 = 2 + 1
    whole = explicit_attention(*whole_in, scale=8**-0.5)[0]
    sliced = gpt.sliced_attention(*sliced_in, scale=8**-0.5)
    assert sliced.shape == whole.shape and torch.allclose(sliced, whole, atol=1e-6)
    assert sliced.transpose(1, 2).is_contiguous()  # (B, T, nh, hs): the heads side by side, no copy
    grad = torch.randn_like(whole)
    whole.backward(grad)
    sliced.backward(grad)
    for a, b in zip(whole_in, sliced_in, strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)
    dropped = gpt.sliced_attention(*(t.detach() for t in sliced_in), scale=8**-0.5, dropout_p=0.5)
    assert not torch.allclose(dropped, whole.detach(), atol=1e-3)


def test_the_mlp_in_slices_equals_the_whole(tiny_cfg, monkeypatch):
    torch.manual_seed(0)
    mlp = gpt.MLP(tiny_cfg)
    x = torch.randn(3, 10, tiny_cfg.n_embd)
    whole_x, sliced_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    whole = mlp(whole_x)
    whole.sum().backward()
    whole_grads = [p.grad.clone() for p in mlp.parameters()]
    mlp.zero_grad()
    rows = 4  # 30 rows: 4 + 4 + ... + 2
    monkeypatch.setattr(gpt, "SLICE_BYTES", rows * mlp.c_fc.out_features * 4)
    parts = []
    monkeypatch.setattr(mlp, "_forward", lambda part: parts.append(len(part)) or gpt.MLP._forward(mlp, part))
    sliced = mlp(sliced_x)
    sliced.sum().backward()
    assert parts == [4] * 7 + [2]
    assert sliced.shape == whole.shape and torch.allclose(sliced, whole, atol=1e-6)
    assert torch.allclose(sliced_x.grad, whole_x.grad, atol=1e-6)
    for p, g in zip(mlp.parameters(), whole_grads, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-5)


def test_cpu_training_takes_the_sliced_path(tiny_cfg, monkeypatch):
    calls = []
    monkeypatch.setattr(gpt, "sliced_attention", lambda *a, **k: calls.append(1) or explicit_attention(*a)[0])
    model = GPT(tiny_cfg).train()
    model(torch.randint(0, tiny_cfg.vocab_size, (2, tiny_cfg.block_size)))[0].sum().backward()
    assert len(calls) == tiny_cfg.n_layer


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


def test_lecture_exact_builds_the_lectures_model():
    """ng-video-lecture gpt.py prints 10.788929 M parameters: no bias on key/query/value, one on the
    projections, the feed-forward, the LayerNorms and the LM head; no dropout on the embeddings."""
    config = GPTConfig.preset("lecture-exact", vocab_size=65)
    with torch.device("meta"):  # the sizes without drawing 10.8M random numbers
        model = GPT(config)
    assert count_parameters(model) == 10_788_929
    names = dict(model.named_parameters())
    assert "transformer.h.0.attn.c_attn.bias" not in names and "lm_head.bias" in names
    assert {
        "transformer.h.0.attn.c_proj.bias",
        "transformer.h.0.mlp.c_fc.bias",
        "transformer.ln_f.bias",
    } < set(names)
    assert isinstance(model.transformer.drop, torch.nn.Identity)


def test_lecture_init_is_normal_without_gpt2_scaling():
    config = GPTConfig.preset("tiny", n_layer=4, n_embd=64, init="lecture", bias=True)
    model = GPT(config)
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.transformer.h])
    assert 0.018 < proj.std().item() < 0.022  # gpt2 would give 0.02 / sqrt(8) = 0.007
    assert all(b.mlp.c_fc.bias.abs().sum() == 0 for b in model.transformer.h)


def test_configs_saved_before_the_lecture_fields_build_what_they_built():
    """Checkpoint metadata written before qkv_bias, lm_head_bias and embd_dropout existed."""
    old = {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 8, "bias": True, "dropout": 0.1}
    model = GPT(GPTConfig.from_dict(old))
    names = dict(model.named_parameters())
    assert "transformer.h.0.attn.c_attn.bias" in names and "lm_head.bias" not in names
    assert model.transformer.drop.p == 0.1


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


# ---- the experiments' switches (issue 24): norm, norm position, tied weights ----------------------

SWITCHES = [
    dict(norm=n, norm_position=p, tie_weights=t)
    for n in ("layernorm", "rmsnorm")
    for p in ("pre", "post")
    for t in (False, True)
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_cached_forward_matches_the_full_forward(tiny_cfg, switches):
    torch.manual_seed(0)
    model = GPT(tiny_cfg.replace(**switches)).eval()
    idx = torch.randint(0, tiny_cfg.vocab_size, (1, tiny_cfg.block_size))
    full, _ = model(idx)
    cache = model.new_cache()
    stepped = torch.cat([model(idx[:, t : t + 1], cache=cache)[0] for t in range(idx.size(1))], dim=1)
    assert torch.allclose(full, stepped, atol=1e-5)


def test_tied_weights_share_one_tensor(tiny_cfg):
    model = GPT(tiny_cfg.replace(tie_weights=True))
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.tied_weights == {"lm_head.weight": "transformer.wte.weight"}
    untied = GPT(tiny_cfg)
    assert count_parameters(untied) - count_parameters(model) == tiny_cfg.vocab_size * tiny_cfg.n_embd
    with torch.no_grad():
        model.transformer.wte.weight[0, 0] = 42.0
    assert model.lm_head.weight[0, 0] == 42.0
    _, loss = model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))
    loss.backward()  # both uses add to the one gradient
    assert model.transformer.wte.weight.grad is model.lm_head.weight.grad


def test_post_norm_block_normalizes_after_each_residual_add(tiny_cfg):
    torch.manual_seed(0)
    model = GPT(tiny_cfg.replace(norm_position="post")).eval()
    block, x = model.transformer.h[0], torch.randn(2, 5, tiny_cfg.n_embd)
    mid = block.ln_1(x + block.attn(x)[0])
    assert torch.allclose(block(x)[0], block.ln_2(mid + block.mlp(mid)), atol=1e-6)
    assert isinstance(model.transformer.ln_f, torch.nn.Identity)  # the last block's norm ends the stack
    pre = GPT(tiny_cfg).eval().transformer.h[0]
    mid = x + pre.attn(pre.ln_1(x))[0]
    assert torch.allclose(pre(x)[0], mid + pre.mlp(pre.ln_2(mid)), atol=1e-6)


def test_rmsnorm_is_the_hand_formula(tiny_cfg):
    model = GPT(tiny_cfg.replace(norm="rmsnorm"))
    norm = model.transformer.h[0].ln_1
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, tiny_cfg.n_embd))
    x = torch.randn(3, tiny_cfg.n_embd) * 3 + 1
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    assert torch.allclose(norm(x), expected, atol=1e-5)
    assert not any("bias" in n for n, _ in norm.named_parameters())  # no mean, no shift


def test_switch_values_are_checked():
    with pytest.raises(ConfigError, match="norm must be one of layernorm, rmsnorm"):
        GPTConfig(norm="batchnorm")
    with pytest.raises(ConfigError, match="norm_position must be one of pre, post"):
        GPTConfig(norm_position="middle")
