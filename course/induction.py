"""Induction heads: heads that complete a repeated sequence. On a random string repeated twice, an
induction head at a character of the second copy attends to the character that followed the same
character in the first copy, and copies it; the loss on the second copy then falls far below the
loss on the first, which nothing can predict (Olsson et al., 2022, "In-context learning and
induction heads"). Also here: a repeated name, copied or not. Ablations use `course.interventions`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from course.interventions import Site, ablation, run, without
from tinygpt.device import use_threads
from tinygpt.gpt import GPT

# A head is called an induction head when, on average over the second copy, it puts at least this
# much attention on the token after the earlier copy, and at least RATIO times what attention spread
# evenly over the past would put there. TransformerLens's demos use a similar cut-off (0.4 on GPT-2).
THRESHOLD = 0.3
RATIO = 4
MAX_HALF = 48  # characters in each copy, at most (block_size // 2 for small models)


@dataclass(frozen=True)
class Induction:
    """Per-head induction scores on `rows` random strings of `half` characters, each repeated once."""

    # (n_layer, n_head): the mean attention from the second copy to the token after the earlier copy
    scores: torch.Tensor
    baseline: float  # the same mean for attention spread evenly over the past
    loss_first: float  # the model's loss on the first copy (nothing to copy from: about ln(vocab_size))
    loss_second: float  # and on the second copy (after its first character)
    loss_rise: torch.Tensor  # (n_layer, n_head): how much the second copy's loss rises without each head
    previous: torch.Tensor  # (n_layer, n_head): the mean attention from each position to the one before
    half: int
    rows: int

    @property
    def cutoff(self) -> float:
        return max(THRESHOLD, RATIO * self.baseline)

    def heads(self) -> list[Site]:
        """The heads that pass both cut-offs, best first."""
        flat = self.scores.flatten()
        n_head = self.scores.size(1)
        return [
            Site("head", *divmod(i, n_head))
            for i in flat.argsort(descending=True).tolist()
            if flat[i] >= self.cutoff
        ]

    def best(self) -> Site:
        """The head with the highest induction score."""
        return _argmax(self.scores)

    def key_head(self) -> Site:
        """The best induction head; without one, the head whose absence costs the second copy most."""
        found = self.heads()
        return found[0] if found else _argmax(self.loss_rise)


def _argmax(grid: torch.Tensor) -> Site:
    layer, head = divmod(int(grid.argmax()), grid.size(1))
    return Site("head", layer, head)


def repeated_tokens(vocab_size: int, half: int, rows: int, seed: int = 0) -> torch.Tensor:
    """`rows` random strings of `half` tokens, each followed by itself: (rows, 2 * half)."""
    first = torch.randint(vocab_size, (rows, half), generator=torch.Generator().manual_seed(seed))
    return torch.cat([first, first], dim=1)


def induction_scores(maps: torch.Tensor, half: int) -> torch.Tensor:
    """From attention maps (n_layer, B, nh, T, T) of repeated strings: for each head the mean weight
    that a query i of the second copy puts on key i - half + 1, the token after its earlier copy."""
    queries = torch.arange(half, 2 * half)
    return maps[:, :, :, queries, queries - half + 1].mean(dim=(1, 3))  # (n_layer, nh)


def previous_scores(maps: torch.Tensor) -> torch.Tensor:
    """For each head the mean weight a query i puts on key i - 1, the character just before: the
    first half of an induction circuit, which an induction head in a later block reads."""
    queries = torch.arange(1, maps.size(-1))
    return maps[:, :, :, queries, queries - 1].mean(dim=(1, 3))  # (n_layer, nh)


def copy_loss(logits: torch.Tensor, idx: torch.Tensor, half: int) -> tuple[float, float]:
    """Mean loss on the first copy's characters and on the second copy's (the second copy's first
    character left out: nothing announces it)."""
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), idx[:, 1:], reduction="none")  # (B, T-1)
    return float(losses[:, : half - 1].mean()), float(losses[:, half:].mean())


def measure(
    model: GPT, mode: str = "mean", means: Mapping[Site, torch.Tensor] | None = None, rows: int = 8
) -> Induction:
    """Induction scores and copy losses of every head, on random repeated text (see `Induction`).
    Heads are switched off as `course.interventions.ablation` does (`means` for mean ablation)."""
    half = min(model.config.block_size // 2, MAX_HALF)
    if half < 2:
        raise ValueError(f"a block_size of {model.config.block_size} cannot hold a string repeated twice")
    idx = repeated_tokens(model.config.vocab_size, half, rows).to(model.lm_head.weight.device)
    with use_threads(1):
        maps = model.attention_maps(idx)  # (n_layer, B, nh, T, T)
    logits, _ = run(model, idx)
    first, second = copy_loss(logits, idx, half)
    config = model.config
    rise = torch.zeros(config.n_layer, config.n_head)
    for layer in range(config.n_layer):
        for head in range(config.n_head):
            site = Site("head", layer, head)
            ablated, _ = run(model, idx, {site: ablation(site, mode, means)})
            rise[layer, head] = copy_loss(ablated, idx, half)[1] - second
    queries = torch.arange(half, 2 * half, dtype=torch.float)
    baseline = float((1 / (queries + 1)).mean())  # even attention over i + 1 keys
    scores, previous = induction_scores(maps, half), previous_scores(maps)
    return Induction(scores, baseline, first, second, rise, previous, half, rows)


def verdict(ind: Induction, vocab_size: int) -> str:
    """Whether the model has induction heads, in two or three sentences decided by the numbers."""
    found, cut = ind.heads(), ind.cutoff
    losses = (
        f"On the second copy its loss is {ind.loss_second:.2f} against {ind.loss_first:.2f} on the first "
        f"(guessing at random: ln {vocab_size} = {math.log(vocab_size):.2f})."
    )
    if found:
        names = ", ".join(str(s) for s in found[:4]) + (" …" if len(found) > 4 else "")
        return (
            f"**Yes: this model has {len(found)} induction head{'s' * (len(found) > 1)}** ({names}): "
            f"each puts at least {cut:.0%} of its attention on the character after the earlier copy, "
            f"where even attention would put {ind.baseline:.1%}. {losses}"
        )
    text = (
        f"**No: this model has no induction head.** Its most induction-like head, {ind.best()}, puts "
        f"{float(ind.scores.max()):.1%} of its attention on the character after the earlier copy "
        f"(the cut-off is {cut:.0%}; even attention would put {ind.baseline:.1%}). {losses}"
    )
    prev = _argmax(ind.previous)
    if float(ind.previous.max()) >= THRESHOLD:
        text += (
            f" It does have the circuit's first half: {prev} puts {float(ind.previous.max()):.0%} of its "
            "attention on the character just before, a previous-token head"
            + (
                ", but no later block uses it to copy."
                if prev.layer < ind.scores.size(0) - 1
                else ", in the last block: no block after it can use it to copy."
            )
        )
    return text


# ---- a repeated name ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NameCopy:
    """The probability of each character of a name (after its first), where it first appears and
    where it appears again, and again with one head switched off."""

    text: str  # the whole text read
    chars: str  # the name's characters after the first
    first: torch.Tensor  # (len(chars),) p of each at the first appearance
    second: torch.Tensor  # at the second appearance
    second_without: torch.Tensor  # at the second, with `head` switched off
    head: Site
    completion: str  # what greedy decoding writes after the second appearance's first character


TEMPLATE = "{name}:\nWhat news, good {name}?"


def name_text(name: str, block_size: int) -> str:
    """The text in which `name` appears twice: TEMPLATE, or plainer when it does not fit."""
    for text in (TEMPLATE.format(name=name), f"{name} {name}"):
        if len(text) <= block_size:
            return text
    raise ValueError(
        f"{2 * len(name) + 1} characters of text do not fit in this model's block_size ({block_size}): "
        "choose a shorter name"
    )


def copy_name(model: GPT, tokenizer, name: str, head: Site, mode: str = "mean", means=None) -> NameCopy:
    """How well the model predicts `name`'s characters the first and the second time it appears,
    with and without `head`."""
    if len(name) < 2:
        raise ValueError("type a name of at least two characters")
    unknown = tokenizer.unknown(name)
    if unknown:
        raise ValueError(
            f"this model's vocabulary lacks {', '.join(repr(c) for c in unknown)}: choose another name"
        )
    text = name_text(name, model.config.block_size)
    idx = torch.tensor([tokenizer.encode(text)], device=model.lm_head.weight.device)
    at = [text.index(name), text.rindex(name)]
    targets = idx[0, at[0] + 1 : at[0] + len(name)]  # the name's characters after the first

    def probs(logits: torch.Tensor, start: int) -> torch.Tensor:
        # the logits at positions start..start+len-2 predict the name's characters 1..len-1
        return logits[start : start + len(name) - 1].softmax(-1).gather(1, targets[:, None])[:, 0]

    clean = run(model, idx)[0][0]
    ablated = without(model, idx, head, mode, means)
    prefix = idx[:, : at[1] + 1]
    return NameCopy(
        text=text,
        chars=name[1:],
        first=probs(clean, at[0]),
        second=probs(clean, at[1]),
        second_without=probs(ablated, at[1]),
        head=head,
        completion=tokenizer.decode(greedy(model, prefix, len(name) - 1)),
    )


@torch.no_grad()
def greedy(model: GPT, idx: torch.Tensor, n: int) -> list[int]:
    """The n likeliest next tokens one after another (idx (1, T) must leave room for them)."""
    out = []
    for _ in range(n):
        nxt = run(model, idx)[0][0, -1].argmax()
        out.append(int(nxt))
        idx = torch.cat([idx, nxt.view(1, 1)], dim=1)
    return out
