"""The one-token decoder computes what GPT.forward computes with the KV cache, for every variant of
the model (biases, either attention, each piece switched off, every combination of norm, norm
position and tied weights), including after a prefill, and refuses what it cannot do."""

import itertools

import pytest
import torch
from conftest import ROOT

from tinygpt import GPT, load_checkpoint

VARIANTS = {
    "full, no biases": {},
    "biases": dict(bias=True),
    "explicit attention": dict(use_flash=False),
    "relu": dict(activation="relu"),
    "no layer norm": dict(layer_norm=False),
    "no residual": dict(residual=False),
    "no projections": dict(proj=False, mlp_ratio=1, bias=True),
    "no mlp": dict(mlp=False),
    "no position embedding": dict(pos_emb=False),
    "unscaled attention": dict(attn_scale=False),
    "pytorch init": dict(init="pytorch"),
    "post-norm, no mlp": dict(norm_position="post", mlp=False),
    "post-norm, no residual": dict(norm_position="post", residual=False),
}
# Every combination of the experiments' switches (issue 24), each with biases on and off.
for norm, position, tied, bias in itertools.product(
    ("layernorm", "rmsnorm"), ("pre", "post"), (False, True), (False, True)
):
    VARIANTS[f"{norm}, {position}-norm, {'tied' if tied else 'untied'}, bias {bias}"] = dict(
        norm=norm, norm_position=position, tie_weights=tied, bias=bias
    )


def forward_logits(model, ids, cache):
    logits, _ = model(torch.tensor([ids]), cache=cache)
    return logits[0, -1]


@pytest.mark.parametrize("changes", VARIANTS.values(), ids=VARIANTS.keys())
def test_decoder_matches_forward_with_cache(tiny_cfg, changes):
    torch.manual_seed(0)
    model = GPT(tiny_cfg.replace(**changes)).eval()
    for p in model.parameters():  # LayerNorms start at 1 and 0, biases at 0: make them count
        p.data.add_(0.1 * torch.randn_like(p))
    ids = torch.randint(0, tiny_cfg.vocab_size, (tiny_cfg.block_size,)).tolist()
    decode = model.decoder()
    with torch.inference_mode():
        for prefill in (0, 3):
            ref, fast = model.new_cache(), model.new_cache()
            if prefill:
                forward_logits(model, ids[:prefill], ref)
                forward_logits(model, ids[:prefill], fast)
            for token in ids[prefill:]:
                expected = forward_logits(model, [token], ref)
                assert torch.allclose(decode(token, fast), expected, atol=1e-5)
                assert fast.length == ref.length
            for mine, theirs in zip(fast.layers, ref.layers, strict=True):
                assert torch.allclose(mine.k, theirs.k, atol=1e-6) and torch.allclose(
                    mine.v, theirs.v, atol=1e-6
                )


def test_decoder_refuses_training_mode_a_full_cache_and_a_batch(tiny_cfg):
    model = GPT(tiny_cfg)
    with pytest.raises(ValueError, match="eval"):
        model.train().decoder()
    decode, cache = model.eval().decoder(), model.new_cache()
    for token in range(tiny_cfg.block_size):
        decode(token % tiny_cfg.vocab_size, cache)
    with pytest.raises(ValueError, match="room left"):
        decode(0, cache)
    with pytest.raises(ValueError, match="batch-1"):
        decode(0, model.new_cache(batch_size=2))


def test_decoder_matches_forward_on_the_shipped_model():
    model = load_checkpoint(ROOT / "checkpoints" / "shakespeare-gpt.safetensors").model.eval()
    ids = [18, 47, 56, 57, 58, 1, 15, 47, 58, 47, 64, 43, 52, 10]  # "First Citizen:"
    decode, ref, fast = model.decoder(), model.new_cache(), model.new_cache()
    with torch.inference_mode():
        for token in ids:
            assert torch.allclose(decode(token, fast), forward_logits(model, [token], ref), atol=1e-4)
