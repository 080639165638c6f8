"""Activation patching: run a corrupt prompt, copy one activation of a clean prompt's run into it
(one block's stage at one position), and measure how much of the difference in the next character's
probability comes back. A layer × position map of these says where the difference is carried.
The hooks and edits are `course.interventions`'.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course.interventions import InterventionError, Site, patch, point, run
from tinygpt.gpt import GPT


@dataclass(frozen=True)
class PatchMap:
    """How much of the difference between two prompts' next-character probability each patch
    restores: the clean prompt's activation at one site and position copied into the corrupt run."""

    stage: str  # a key of course.interventions.STAGES
    rows: tuple[Site, ...]  # the site each row patched
    restored: torch.Tensor  # (rows, T): (p patched - p corrupt) / (p clean - p corrupt)
    target: int  # the token measured: the clean prompt's likeliest next character
    p_clean: float  # its probability after the clean prompt
    p_corrupt: float  # and after the corrupt one
    differ: tuple[int, ...]  # the positions where the prompts differ


MIN_GAP = 0.02  # below this difference in probability there is nothing to trace


def patch_sites(model: GPT, stage: str) -> list[Site]:
    """One site per block for `stage`; for the residual stream also the stream after the last block."""
    n = model.config.n_layer + (stage == "resid")
    sites = [Site(stage, i) for i in range(n)]
    for site in sites:
        point(model, site)  # raises for a stage the model lacks
    return sites


def patch_map(model: GPT, clean: list[int], corrupt: list[int], stage: str = "resid") -> PatchMap:
    """Patch `stage` from the clean prompt's run into the corrupt prompt's, one block and one
    position at a time (each block's positions in one batch). The prompts must be as long."""
    if len(clean) != len(corrupt):
        raise InterventionError(
            f"the two prompts must be equally long, so that each position means the same in both "
            f"(they are {len(clean)} and {len(corrupt)} characters)"
        )
    if len(clean) > model.config.block_size:
        raise InterventionError(
            f"this model reads at most {model.config.block_size} characters, not {len(clean)}"
        )
    differ = tuple(i for i, (a, b) in enumerate(zip(clean, corrupt, strict=True)) if a != b)
    if not differ:
        raise InterventionError("the two prompts are the same: change at least one character of one")
    sites = patch_sites(model, stage)
    device = model.lm_head.weight.device
    idx_clean, idx_corrupt = (torch.tensor([ids], device=device) for ids in (clean, corrupt))
    logits, seen = run(model, idx_clean, read=sites)
    target = int(logits[0, -1].argmax())
    p_clean = float(logits[0, -1].softmax(-1)[target])
    p_corrupt = float(run(model, idx_corrupt)[0][0, -1].softmax(-1)[target])
    if p_clean - p_corrupt < MIN_GAP:
        raise InterventionError(
            f"the clean prompt's likeliest next character is not less likely after the corrupt one "
            f"({p_clean:.0%}, then {p_corrupt:.0%}): there is no difference to restore; change another "
            "character, or swap the prompts"
        )
    # Before the first difference both runs hold the same numbers (attention is causal): patching
    # there changes nothing, so those positions keep 0 and only the rest are run, one batch row each.
    T, start = len(clean), differ[0]
    positions = torch.arange(start, T, device=device)
    batch = idx_corrupt.expand(len(positions), T)  # row b patches position start + b
    restored = torch.zeros(len(sites), T)
    for row, site in enumerate(sites):
        patched, _ = run(model, batch, {site: patch(seen[site][0], positions)})
        p = patched[:, -1].softmax(-1)[:, target]  # (T - start,)
        restored[row, start:] = (p - p_corrupt) / (p_clean - p_corrupt)
    return PatchMap(stage, tuple(sites), restored, target, p_clean, p_corrupt, differ)
