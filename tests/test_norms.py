"""course.norms: the hand-written LayerNorm gives nn.LayerNorm's numbers on the shipped model's own
activations, every block's and the final one; BatchNorm normalises columns where LayerNorm
normalises rows."""

from pathlib import Path

import pytest
import torch

from course import inside, norms
from tinygpt import load_checkpoint

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "shakespeare-gpt.safetensors"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "


@pytest.fixture(scope="module")
def traced():
    checkpoint = load_checkpoint(SHIPPED)
    return checkpoint.model.eval(), inside.trace_prompt(checkpoint.model, checkpoint.tokenizer, PROMPT).trace


def test_hand_written_layer_norm_equals_the_models_own(traced):
    model, t = traced
    for block, layer in zip(model.transformer.h, t.layers, strict=True):
        assert torch.allclose(norms.layer_norm_like(block.ln_1, layer.resid_in), layer.ln_1, atol=1e-5)
        assert torch.allclose(norms.layer_norm_like(block.ln_2, layer.resid_mid), layer.ln_2, atol=1e-5)
        expected = torch.nn.functional.layer_norm(layer.resid_in, (layer.resid_in.size(-1),))
        assert torch.allclose(norms.layer_norm(layer.resid_in), expected, atol=1e-5)  # no gain, no bias
    assert torch.allclose(
        norms.layer_norm_like(model.transformer.ln_f, t.layers[-1].resid_out), t.ln_f, atol=1e-5
    )


def test_layer_norm_with_gain_and_bias_equals_nn_layer_norm():
    torch.manual_seed(0)
    ln = torch.nn.LayerNorm(32)
    torch.nn.init.normal_(ln.weight)
    torch.nn.init.normal_(ln.bias)
    x = 3 * torch.randn(4, 10, 32) + 1
    assert torch.allclose(norms.layer_norm_like(ln, x), ln(x), atol=1e-5)


def test_batch_norm_normalises_columns_and_layer_norm_rows(traced):
    _, t = traced
    x = t.layers[0].resid_in  # (T, C)
    bn = torch.nn.BatchNorm1d(x.size(1), affine=False).train()
    assert torch.allclose(norms.batch_norm(x), bn(x), atol=1e-4)
    rows, columns = norms.spreads(norms.layer_norm(x))
    assert torch.allclose(rows, torch.ones_like(rows), atol=1e-3) and columns.std() > 0.05
    rows, columns = norms.spreads(norms.batch_norm(x))
    assert torch.allclose(columns, torch.ones_like(columns), atol=1e-3) and rows.std() > 0.05
