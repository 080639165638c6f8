"""The optimizers: AdamW where matrices and embeddings decay and biases and norms do not (nanoGPT's
`configure_optimizers`), and, with optimizer="muon", Muon for the Transformer blocks' weight
matrices. They step as one, and their state is saved and restored by parameter name, so that a
training run can be resumed exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .train import TrainConfig

OPTIMIZERS = ("adamw", "muon")


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
    muon = torch.optim.Muon(
        [params[n] for n in to_muon], lr=cfg.muon_lr, weight_decay=0.0, adjust_lr_fn="original"
    )
    return Optimizers(adamw, muon)


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
