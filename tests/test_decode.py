"""The one-token decoder computes what GPT.forward computes with the KV cache, for every variant of
the model (biases, either attention), including after a prefill, and refuses what it cannot do."""

import pytest
import torch
from conftest import ROOT

from tinygpt import GPT, load_checkpoint
from tinygpt.decode import Decoder


def forward_logits(model, ids, cache):
    logits, _ = model(torch.tensor([ids]), cache=cache)
    return logits[0, -1]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("use_flash", [False, True])
def test_decoder_matches_forward_with_cache(tiny_cfg, bias, use_flash):
    torch.manual_seed(0)
    model = GPT(tiny_cfg.replace(bias=bias, use_flash=use_flash)).eval()
    for p in model.parameters():  # LayerNorms start at 1 and 0, biases at 0: make them count
        p.data.add_(0.1 * torch.randn_like(p))
    ids = torch.randint(0, tiny_cfg.vocab_size, (tiny_cfg.block_size,)).tolist()
    decoder = Decoder(model)
    with torch.inference_mode():
        for prefill in (0, 3):
            ref, fast = model.new_cache(), model.new_cache()
            if prefill:
                forward_logits(model, ids[:prefill], ref)
                forward_logits(model, ids[:prefill], fast)
            for token in ids[prefill:]:
                expected = forward_logits(model, [token], ref)
                assert torch.allclose(decoder(token, fast), expected, atol=1e-5)
                assert fast.length == ref.length
            assert torch.allclose(fast.k, ref.k, atol=1e-6) and torch.allclose(fast.v, ref.v, atol=1e-6)


def test_decoder_refuses_training_mode_and_a_full_cache(tiny_cfg):
    model = GPT(tiny_cfg)
    with pytest.raises(ValueError, match="eval"):
        Decoder(model.train())
    decoder, cache = Decoder(model.eval()), model.new_cache()
    for token in range(tiny_cfg.block_size):
        decoder(token % tiny_cfg.vocab_size, cache)
    with pytest.raises(ValueError, match="full"):
        decoder(0, cache)


def test_decoder_matches_forward_on_the_shipped_model():
    model = load_checkpoint(ROOT / "checkpoints" / "shakespeare-gpt.safetensors").model.eval()
    ids = [18, 47, 56, 57, 58, 1, 15, 47, 58, 47, 64, 43, 52, 10]  # "First Citizen:"
    decoder, ref, fast = Decoder(model), model.new_cache(), model.new_cache()
    with torch.inference_mode():
        for token in ids:
            assert torch.allclose(decoder(token, fast), forward_logits(model, [token], ref), atol=1e-4)
