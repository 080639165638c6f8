"""Interventions on a trained GPT: the places one can act on (sites: a head, an attention layer, an
MLP, the residual stream), hooks that read or replace them, and ablation, which switches a part off.
Activation patching (`course.patching`) and induction heads (`course.induction`) build on them.

Each intervention is a forward hook on the model's own modules, as in `course.inside`'s trace: the
model's `forward` runs unchanged around it, and without an intervention nothing is hooked at all.
The methods are those TransformerLens made common (zero and mean ablation, activation patching, the
induction score of Olsson et al., 2022), written for tinygpt's modules in a few hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tinygpt.device import use_threads
from tinygpt.gpt import GPT

# Batches here are a few rows of at most block_size tokens: on a shared 2-core CPU a second thread
# that waits for a busy core stalls every op (course.inside measured 45 ms on one thread, 215 on two).
THREADS = 1
ABLATIONS = ("mean", "zero")
STAGES = {
    "resid": "the residual stream",
    "attn": "attention's output",
    "mlp": "the MLP's output",
    "head": "one head's output",
}


class InterventionError(ValueError):
    """An intervention this model cannot take (e.g. on an MLP it does not have); a plain sentence."""


@dataclass(frozen=True)
class Site:
    """A place whose activation can be read or replaced: `stage` (a key of STAGES) in block `layer`.
    "resid" is the stream entering block `layer` (layer n_layer: after the last block); "head" is
    head `head`'s slice of the heads side by side, before attention's projection `c_proj`."""

    stage: str
    layer: int
    head: int | None = None

    def __str__(self) -> str:
        if self.stage == "head":
            return f"block {self.layer}, head {self.head}"
        return f"{STAGES[self.stage]} of block {self.layer}"


# An edit takes the site's activation (B, T, width) and returns what replaces it.
Edit = Callable[[torch.Tensor], torch.Tensor]


def point(model: GPT, site: Site) -> tuple[torch.nn.Module, bool, slice]:
    """(module, whether the site is its input rather than its output, the site's channels)."""
    blocks, n_layer = model.transformer.h, model.config.n_layer
    if site.stage not in STAGES:
        raise InterventionError(f"unknown stage {site.stage!r}; choose one of {', '.join(STAGES)}")
    top = n_layer + 1 if site.stage == "resid" else n_layer
    if not 0 <= site.layer < top:
        raise InterventionError(f"this model has blocks 0 to {n_layer - 1}, not {site.layer}")
    if site.stage == "resid":
        return (blocks[site.layer] if site.layer < n_layer else model.transformer.ln_f), True, slice(None)
    block = blocks[site.layer]
    if site.stage == "attn":
        return block.attn, False, slice(None)
    if site.stage == "mlp":
        if block.mlp is None:
            raise InterventionError("this model has no MLP (its feed-forward network is switched off)")
        return block.mlp, False, slice(None)
    if site.head is None or not 0 <= site.head < model.config.n_head:
        raise InterventionError(f"this model has heads 0 to {model.config.n_head - 1}, not {site.head}")
    hs = model.config.head_size
    # c_proj's input holds the heads side by side; it is an Identity, still hooked, without a projection
    return block.attn.c_proj, True, slice(site.head * hs, (site.head + 1) * hs)


class _Hooks:
    """Hooks that read or replace sites. Like course.inside's recorder they act only on the thread
    that made them: a cached model is shared with other sessions, which may run it meanwhile."""

    def __init__(self, model: GPT):
        self.model, self.handles, self.thread = model, [], threading.get_ident()
        self.seen: dict[Site, torch.Tensor] = {}

    def add(self, site: Site, edit: Edit | None) -> None:
        module, on_input, channels = point(self.model, site)

        def change(x: torch.Tensor) -> torch.Tensor | None:
            if threading.get_ident() != self.thread:
                return None
            if edit is None:  # only read
                self.seen[site] = x[..., channels].detach()
                return None
            x = x.clone()
            x[..., channels] = edit(x[..., channels])
            return x

        if on_input:
            self.handles.append(module.register_forward_pre_hook(lambda _, args: _swap(args, change)))
        else:
            self.handles.append(module.register_forward_hook(lambda _, args, out: _swap(out, change)))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _swap(out, change):
    """A module's output or its arguments with the first tensor changed (attention returns (y,
    weights), a block is called as block(x, cache)); None (keep them) when nothing changed."""
    if isinstance(out, tuple):
        x = change(out[0])
        return None if x is None else (x, *out[1:])
    return change(out)


@torch.no_grad()
def run(
    model: GPT, idx: torch.Tensor, edits: Mapping[Site, Edit] | None = None, read: Iterable[Site] = ()
) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
    """`model(idx)` with each site in `edits` replaced by its edit and the sites in `read` kept.
    Returns (logits (B, T, vocab_size), {site: its activation (B, T, width)}). Sites read are
    seen after the edits upstream of them."""
    hooks = _Hooks(model)
    try:
        for site, edit in (edits or {}).items():
            hooks.add(site, edit)
        for site in read:
            hooks.add(site, None)
        with use_threads(THREADS):
            logits, _ = model(idx)
    finally:
        hooks.remove()
    return logits, hooks.seen


# ---- edits -------------------------------------------------------------------------------------


def zero(part: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(part)


def constant(value: torch.Tensor) -> Edit:
    """Every position set to `value` (width,): mean ablation with the site's mean activation."""
    return lambda part: value.to(part.dtype).expand_as(part)


def patch(source: torch.Tensor, positions: torch.Tensor) -> Edit:
    """Row b of the batch gets `source` (T, width) at position positions[b] (the rest of the row is
    left alone), so one batch patches each position in turn."""

    def edit(part: torch.Tensor) -> torch.Tensor:
        part = part.clone()
        part[torch.arange(len(positions)), positions] = source[positions]
        return part

    return edit


def patch_all(source: torch.Tensor) -> Edit:
    """Every position from `source` (T, width): a whole stage from another run."""
    return lambda part: source.expand_as(part).clone()


def ablation(site: Site, mode: str, means: Mapping[Site, torch.Tensor] | None) -> Edit:
    """The edit that switches `site` off: zeros, or its mean activation over reference text."""
    if mode not in ABLATIONS:
        raise InterventionError(f"ablation must be one of {', '.join(ABLATIONS)}, not {mode!r}")
    if mode == "zero":
        return zero
    if means is None or site not in means:
        raise InterventionError(f"no mean activation was measured for {site}")
    return constant(means[site])


# ---- ablation: which part matters --------------------------------------------------------------


def heads(model: GPT) -> list[Site]:
    """Every head of every block."""
    config = model.config
    return [Site("head", i, h) for i in range(config.n_layer) for h in range(config.n_head)]


def layers(model: GPT) -> list[Site]:
    """Every attention layer, then every MLP the model has."""
    n_layer, blocks = model.config.n_layer, model.transformer.h
    return [Site("attn", i) for i in range(n_layer)] + [
        Site("mlp", i) for i in range(n_layer) if blocks[i].mlp is not None
    ]


# Windows of validation text the head map is measured on: 4 x 128 characters for the shipped model.
# Each part switched off costs one pass over them (the shipped model: 16 heads in about 1 s on one
# core), so a change of the ablation stays near a second; more rows smooth the smallest rises.
REFERENCE_ROWS = 4


def reference_batch(
    val: torch.Tensor, block_size: int, rows: int = REFERENCE_ROWS
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed slice of validation tokens: `rows` windows of block_size spread evenly over `val`,
    with their next-token targets. Returns (x, y), each (rows, T); T is shorter for a short `val`."""
    T = min(block_size, len(val) - 1)
    if T < 2:
        raise InterventionError(f"the validation text is too short ({len(val)} characters) to measure a loss")
    starts = torch.linspace(0, len(val) - T - 1, rows).long().unique().tolist()
    x = torch.stack([val[s : s + T] for s in starts])  # (rows, T)
    y = torch.stack([val[s + 1 : s + T + 1] for s in starts])  # (rows, T): each next token
    return x, y


def mean_activations(model: GPT, x: torch.Tensor, sites: Iterable[Site]) -> dict[Site, torch.Tensor]:
    """Each site's activation averaged over every row and position of x: (width,) per site."""
    _, seen = run(model, x, read=sites)
    return {site: a.mean(dim=(0, 1)) for site, a in seen.items()}


def loss_of(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)))


@dataclass(frozen=True)
class Ablations:
    """The loss on a fixed slice of text with each of some parts switched off in turn."""

    mode: str  # "mean" or "zero"
    clean: float  # the loss with nothing switched off
    rise: dict[Site, float]  # how much the loss rises without each part
    tokens: int  # how many predictions the loss averages

    def grid(self, n_layer: int, n_head: int) -> torch.Tensor:
        """The heads' rises as (n_layer, n_head) (NaN for a head not measured)."""
        nan = float("nan")
        return torch.tensor(
            [[self.rise.get(Site("head", i, h), nan) for h in range(n_head)] for i in range(n_layer)]
        )

    def top(self) -> Site:
        """The part whose absence costs the most."""
        return max(self.rise, key=self.rise.get)


def ablate_each(
    model: GPT, x: torch.Tensor, y: torch.Tensor, sites: Iterable[Site], mode: str = "mean", means=None
) -> Ablations:
    """Switch off each site in turn (`ablation`, with `means` from `mean_activations` for "mean")
    and measure the loss of predicting y from x (see `Ablations`)."""
    clean = loss_of(run(model, x)[0], y)
    rise = {site: loss_of(run(model, x, {site: ablation(site, mode, means)})[0], y) - clean for site in sites}
    return Ablations(mode, clean, rise, y.numel())


def without(model: GPT, idx: torch.Tensor, site: Site, mode: str, means=None) -> torch.Tensor:
    """The logits (T, vocab_size) of one sequence idx (1, T) with `site` switched off."""
    return run(model, idx, {site: ablation(site, mode, means)})[0][0]
