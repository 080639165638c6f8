"""Muon's orthogonalization runs in bf16 only where the hardware multiplies bf16 natively, and its
fp32 result agrees with the bf16 one (and with torch.optim.Muon's) within bf16's precision."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tinygpt import TrainConfig, build_model, make_config
from tinygpt import device as tinygpt_device
from tinygpt.optim import Muon, configure_optimizer, orthogonalize


class DtypesSeen(TorchDispatchMode):
    """Records the dtype of every tensor that enters or leaves an op run under it."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in [*args, *(kwargs or {}).values(), out]:
            for t in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(t, torch.Tensor):
                    self.dtypes.add(t.dtype)
        return out


def tiny_gpt_with_grads():
    torch.manual_seed(0)
    model = build_model("gpt", make_config("gpt", 65, "tiny"))
    idx = torch.randint(0, 65, (4, model.config.block_size))
    _, loss = model(idx, idx)
    loss.backward()
    return model


@pytest.mark.parametrize("fast_bf16", [False, True])
def test_no_bf16_enters_the_optimizer_step_without_native_bf16(monkeypatch, fast_bf16):
    monkeypatch.setattr(tinygpt_device, "cpu_has_fast_bf16", lambda: fast_bf16)
    model = tiny_gpt_with_grads()
    optimizers = configure_optimizer(model, TrainConfig(optimizer="muon"), "cpu")
    with DtypesSeen() as seen:
        optimizers.step()
    assert (torch.bfloat16 in seen.dtypes) == fast_bf16
    assert torch.float32 in seen.dtypes


def test_precision_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(tinygpt_device, "cpu_has_fast_bf16", lambda: False)
    assert tinygpt_device.fast_matmul_dtype("cpu") == torch.float32
    assert tinygpt_device.resolve_dtype("auto", "cpu", n_embd=384) == torch.float32
    assert tinygpt_device.fast_matmul_dtype("mps") == torch.float32
    monkeypatch.setattr(tinygpt_device, "cpu_has_fast_bf16", lambda: True)
    assert tinygpt_device.fast_matmul_dtype("cpu") == torch.bfloat16
    assert tinygpt_device.resolve_dtype("auto", "cpu", n_embd=384) == torch.bfloat16
    assert tinygpt_device.resolve_dtype("auto", "cpu", n_embd=64) == torch.float32  # too small to pay


@pytest.mark.parametrize("shape", [(128, 128), (384, 128), (128, 512), (64, 256)])
def test_fp32_orthogonalization_agrees_with_bf16(shape):
    G = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    fp32 = orthogonalize(G, dtype=torch.float32)
    bf16 = orthogonalize(G, dtype=torch.bfloat16).float()
    assert fp32.dtype == torch.float32 and fp32.shape == G.shape
    assert (fp32 - bf16).norm() / fp32.norm() < 0.05  # bf16 keeps 8 bits of mantissa
    singular = torch.linalg.svdvals(fp32)
    assert singular.median() > 0.6 and singular.max() < 1.3  # near-orthogonal, as the iteration promises
    # the same singular vectors as G: the update points where the gradient does
    assert (fp32 * G).sum() / (fp32.norm() * G.norm()) > 0.5


def test_a_step_matches_torch_muon_within_bf16_precision():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(128, 128), (384, 128), (128, 512)]]
    grads = [torch.randn_like(p) for p in params]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in params]
    ours = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt_theirs = torch.optim.Muon(theirs, lr=0.05, weight_decay=0.0, adjust_lr_fn="original")
    opt_ours = Muon(ours, lr=0.05, dtype=torch.float32)
    for _ in range(3):
        for a, b, g in zip(theirs, ours, grads, strict=True):
            a.grad, b.grad = g.clone(), g.clone()
        opt_theirs.step()
        opt_ours.step()
    for p, a, b in zip(params, theirs, ours, strict=True):
        moved_theirs, moved_ours = a.detach() - p.detach(), b.detach() - p.detach()
        assert (moved_theirs - moved_ours).norm() / moved_theirs.norm() < 0.05


def test_no_bf16_anywhere_in_a_training_step_without_native_bf16(monkeypatch):
    """The forward pass (autocast), the dropout masks, the backward pass and both optimizers."""
    from tinygpt import CharTokenizer, encode_text, split_data, train
    from tinygpt.train import StepEvent

    monkeypatch.setattr(tinygpt_device, "cpu_has_fast_bf16", lambda: False)
    text = "To be, or not to be, that is the question. " * 200
    tok = CharTokenizer.from_text(text)
    config = make_config("gpt", tok.vocab_size, "cpu", dropout=0.2)  # 128 wide: bf16 where it is fast
    cfg = TrainConfig.preset("cpu", max_steps=2, batch_size=4, eval_interval=10**6, device="cpu")
    events = train(build_model("gpt", config), split_data(encode_text(text, tok)), cfg)
    with DtypesSeen() as seen:
        steps = [e for e in events if isinstance(e, StepEvent)]
    assert len(steps) == 2 and torch.bfloat16 not in seen.dtypes
