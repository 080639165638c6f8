"""The model's dropout: on the CPU its masks come four to a 64-bit random number; it must still be
dropout (the right share of zeros, the expected value kept, the gradient through the same mask)."""

import pytest
import torch

from tinygpt.gpt import GPT, Dropout, GPTConfig, dropout


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_drops_the_right_share_and_keeps_the_mean(p, dtype):
    torch.manual_seed(0)
    x = torch.ones(1_000_003, dtype=dtype)  # not a multiple of 4
    y = dropout(x, p)
    assert y.dtype == dtype and y.shape == x.shape
    kept = (y != 0).double().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.002)  # 5 standard errors at this size
    assert y.double().mean().item() == pytest.approx(1.0, abs=0.005)
    values = y.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p), rel=1e-2)


def test_every_bit_pattern_is_used():
    """Each 16-bit slice of the 64-bit numbers decides, so neighbours are independent: pairs of
    neighbours are both kept (1 - p)^2 of the time."""
    torch.manual_seed(1)
    keep = dropout(torch.ones(400_000), 0.5) != 0
    assert (keep[:-1] & keep[1:]).double().mean().item() == pytest.approx(0.25, abs=0.005)
    for offset in range(4):  # no position within a 64-bit number is always kept or dropped
        assert keep[offset::4].double().mean().item() == pytest.approx(0.5, abs=0.01)


def test_gradient_goes_through_the_same_mask():
    torch.manual_seed(2)
    x = torch.randn(1000, requires_grad=True)
    y = dropout(x, 0.3)
    y.sum().backward()
    assert torch.equal(x.grad != 0, y != 0)
    assert torch.allclose(x.grad[y != 0], torch.tensor(65536 / (65536 - round(0.3 * 65536))))


def test_eval_mode_and_zero_p_change_nothing_and_seeds_repeat():
    x = torch.randn(100)
    assert dropout(x, 0.2, training=False) is x and torch.equal(dropout(x, 0.0), x)
    torch.manual_seed(3)
    a = dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.2), a)
    module = Dropout(0.2).eval()
    assert module(x) is x and repr(module) == "Dropout(p=0.2, inplace=False)"


def test_the_model_uses_it():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.5))
    assert sum(isinstance(m, Dropout) for m in model.modules()) == 3  # embeddings, attention, MLP
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
