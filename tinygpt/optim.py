"""The optimizers: AdamW where matrices and embeddings decay and biases and norms do not (nanoGPT's
`configure_optimizers`), and, with optimizer="muon", Muon for the Transformer blocks' weight
matrices (Keller Jordan's Muon, as in torch.optim.Muon, but orthogonalizing in the precision the
device multiplies fast). They step as one, and their state is saved and restored by parameter name,
so that a training run can be resumed exactly."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from .device import fast_matmul_dtype

if TYPE_CHECKING:
    from .train import TrainConfig

OPTIMIZERS = ("adamw", "muon")
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, as torch.optim.Muon's


def configure_optimizer(model, cfg: TrainConfig, device: str) -> Optimizers:
    """AdamW where matrices and embeddings decay and biases and norms (1-D tensors) do not; its
    fused kernel (one pass over all parameters) on CUDA and CPU. With optimizer="muon", the blocks'
    weight matrices go to Muon instead (the training speedruns' optimizer: momentum, then each
    update orthogonalised by a Newton-Schulz iteration so that every direction of a matrix learns)."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    to_muon = {n for n, p in params.items() if cfg.optimizer == "muon" and p.dim() == 2 and ".h." in n}
    rest = [p for n, p in params.items() if n not in to_muon]
    groups = [
        {"params": [p for p in rest if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.startswith(("cuda", "cpu"))
    adamw = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), fused=fused)
    if not to_muon:
        return Optimizers(adamw)
    muon = Muon([params[n] for n in to_muon], lr=cfg.muon_lr, dtype=fast_matmul_dtype(device))
    return Optimizers(adamw, muon)


def describe_optimizer(cfg: TrainConfig, device: str) -> str:
    """One line on what steps the weights, e.g. "Muon (the blocks' matrices, lr 0.04,
    orthogonalized in float32) + AdamW (the rest, lr 0.006)"."""
    adamw = f"AdamW (lr {cfg.learning_rate:g}{', no clipping' if cfg.grad_clip <= 0 else ''})"
    if cfg.optimizer != "muon":
        return adamw
    precision = str(fast_matmul_dtype(device)).removeprefix("torch.")
    return f"Muon (the blocks' matrices, lr {cfg.muon_lr:g}, orthogonalized in {precision}) + {adamw} for the rest"


def orthogonalize(G: torch.Tensor, steps: int = 5, dtype: torch.dtype = torch.float32, eps: float = 1e-7):
    """Newton-Schulz iteration towards the nearest orthogonal matrix of each matrix in G (..., m, n):
    the same singular vectors with every singular value pushed near 1 (between about 0.7 and 1.2:
    Keller Jordan's coefficients trade exactness for speed). Computed in `dtype`; returns `dtype`."""
    X = G.to(dtype)
    tall = X.size(-2) > X.size(-1)
    if tall:  # iterate on the smaller Gram matrix
        X = X.mT
    X = X / X.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # spectral norm at most 1
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        A = X @ X.mT  # (..., m, m)
        X = a * X + (b * A + c * (A @ A)) @ X  # (..., m, n)
    return X.mT if tall else X


class Muon(torch.optim.Optimizer):
    """Muon for 2-D weight matrices: Nesterov momentum, then the update matrix orthogonalized
    (`orthogonalize`) so that every direction of the matrix moves by a similar amount, scaled by
    sqrt(max(1, rows/cols)). torch.optim.Muon computes the iteration in bf16 on every device, which
    costs 40x fp32's time on a CPU without bf16 instructions; here `dtype` is chosen per device
    (`tinygpt.device.fast_matmul_dtype`). Matrices of one shape are orthogonalized as one batch."""

    def __init__(self, params, lr=0.02, momentum=0.95, weight_decay=0.0, ns_steps=5, dtype=torch.float32):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps, dtype=dtype)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            updates = [self._momentum(p, group["momentum"]) for p in params]
            for idx, ortho in self._orthogonalized(updates, group):
                for i, o in zip(idx, ortho, strict=True):
                    p = params[i]
                    scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.add_(o.to(p.dtype), alpha=-group["lr"] * scale)

    def _momentum(self, p: torch.Tensor, momentum: float) -> torch.Tensor:
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        buf.lerp_(p.grad, 1 - momentum)
        return p.grad.lerp(buf, momentum)  # Nesterov: look one step ahead along the momentum

    @staticmethod
    def _orthogonalized(updates: list[torch.Tensor], group: dict):
        """(indices, orthogonalized updates) for each shape: one batched iteration per shape."""
        by_shape = defaultdict(list)
        for i, u in enumerate(updates):
            by_shape[u.shape].append(i)
        for idx in by_shape.values():
            stacked = torch.stack([updates[i] for i in idx])  # (k, m, n)
            yield idx, orthogonalize(stacked, group["ns_steps"], group["dtype"])


class Optimizers:
    """Optimizers that step together, each on its own parameters, as one. Every param group keeps
    its peak rate as "peak_lr", so one schedule scales them all."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers
        for group in self.param_groups:
            group["peak_lr"] = group["lr"]

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    def set_lr(self, factor: float) -> None:
        for group in self.param_groups:
            group["lr"] = group["peak_lr"] * factor

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_tensors(self, model) -> dict[str, torch.Tensor]:
        """Each parameter's optimizer state (AdamW's moments, Muon's momentum), under its name."""
        names = {p: name for name, p in model.named_parameters()}
        return {
            f"optimizer.{names[p]}.{k}": v
            for opt in self.optimizers
            for p, values in opt.state.items()
            for k, v in values.items()
        }

    def load_state_tensors(self, model, tensors: dict[str, torch.Tensor]) -> None:
        """Load what `state_tensors` saved; raises ValueError if it belongs to another model or optimizer."""
        saved: dict[str, dict] = {}  # parameter name -> its optimizer state
        for key, t in tensors.items():
            if key.startswith("optimizer."):
                name, field_name = key.removeprefix("optimizer.").rsplit(".", 1)
                saved.setdefault(name, {})[field_name] = t
        names = {p: name for name, p in model.named_parameters()}
        for opt in self.optimizers:
            params = [p for group in opt.param_groups for p in group["params"]]
            if any(names[p] not in saved or _shape(saved[names[p]]) != p.shape for p in params):
                raise ValueError("the checkpoint's optimizer state does not match this model or optimizer")
            # this run's hyperparameters, the saved run's moments (load_state_dict moves them to the device)
            moments = {i: saved[names[p]] for i, p in enumerate(params)}
            opt.load_state_dict({"state": moments, "param_groups": opt.state_dict()["param_groups"]})


def _shape(values: dict) -> torch.Size | None:
    """The parameter's shape as its saved state shows it (AdamW's exp_avg or Muon's momentum_buffer)."""
    moment = values.get("exp_avg", values.get("momentum_buffer"))
    return None if moment is None else moment.shape
