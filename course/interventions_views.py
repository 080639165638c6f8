"""What the "which part does what" lesson says about its interventions, computed from their numbers:
row names, the next-character distribution with and without a part, and the sentences under each
chart (`course.interventions`, `course.induction`)."""

from __future__ import annotations

import torch

from course.induction import NameCopy
from course.interventions import STAGES, Ablations, Site
from course.patching import PatchMap
from course.text import char_label

MATTERS = 0.01  # a rise in loss (nats) below this is noise on a slice of a few hundred characters


def quoted(ch: str) -> str:
    """A character as the page writes it in a sentence, e.g. 's' or '⏎'."""
    return f"'{char_label(ch)}'"


def row_label(site: Site) -> str:
    """A patch map's row: where the stream or the block's output was patched."""
    if site.stage == "resid":
        return "embeddings" if site.layer == 0 else f"after block {site.layer - 1}"
    return f"block {site.layer} {'attention' if site.stage == 'attn' else 'MLP'}"


def head_label(site: Site, ab: Ablations | None = None) -> str:
    rise = f" ({ab.rise[site]:+.3f})" if ab is not None and site in ab.rise else ""
    return f"block {site.layer}, head {site.head}{rise}"


def heads_sentence(ab: Ablations, n_heads: int) -> str:
    """Which head costs the most when switched off, and how many matter at all."""
    top = ab.top()
    rises = torch.tensor(list(ab.rise.values()))
    matter, helps = int((rises > MATTERS).sum()), int((rises < 0).sum())
    text = (
        f"Switching off {head_label(top)} costs the most: the loss goes from {ab.clean:.3f} to "
        f"{ab.clean + ab.rise[top]:.3f} ({ab.rise[top]:+.3f}) on {ab.tokens:,} characters of validation text."
    )
    if n_heads == 1:
        return text + " It is this model's only head."
    text += f" Heads that raise it by more than {MATTERS}: {matter} of {n_heads}"
    if helps:
        text += f"; without {helps} of them it even falls a little"
    return text + "."


def parts_sentence(parts: Ablations, heads: Ablations) -> str:
    """The whole attention layers and MLPs switched off one at a time, against the costliest head."""
    top, head = parts.top(), heads.top()
    name = f"block {top.layer}'s {'attention' if top.stage == 'attn' else 'MLP'}"
    text = f"Without {name} the loss rises by {parts.rise[top]:+.2f}"
    if parts.rise[top] > 2 * heads.rise[head]:
        return text + f", more than twice as much as without the costliest head ({heads.rise[head]:+.2f})."
    return text + f"; without the costliest head, by {heads.rise[head]:+.2f}."


def next_rows(clean: torch.Tensor, ablated: torch.Tensor, itos: dict, k: int = 8) -> list[dict]:
    """The k likeliest next characters after the clean run's logits (vocab,), with their
    probability in the clean run and with the part switched off."""
    p, q = clean.softmax(-1), ablated.softmax(-1)
    top = p.topk(min(k, p.numel())).indices.tolist()
    return [{"label": char_label(itos[i]), "clean": float(p[i]), "ablated": float(q[i])} for i in top]


def loss_sentence(clean: torch.Tensor, ablated: torch.Tensor, itos: dict, site: Site) -> str:
    """What the next-character distribution loses without `site`: its favourite's probability, the
    character that falls most, and the KL divergence between the two."""
    p, q = clean.softmax(-1), ablated.softmax(-1)
    fav, fell = int(p.argmax()), int((p - q).argmax())
    kl = float((p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum())
    text = (
        f"Without {head_label(site)}, the likeliest next character {quoted(itos[fav])} goes from "
        f"{float(p[fav]):.1%} to {float(q[fav]):.1%}"
    )
    if fell != fav and float(p[fell] - q[fell]) > 0.005:
        text += f"; {quoted(itos[fell])} falls most, {float(p[fell]):.1%} → {float(q[fell]):.1%}"
    return text + f". The two distributions differ by {kl:.3f} nats (KL divergence)."


def patch_summary(pm: PatchMap, labels: tuple[str, ...], itos: dict) -> str:
    """One or two sentences on what the patch map shows, from its numbers."""
    target, T = quoted(itos[pm.target]), pm.restored.size(1)
    where = ", ".join(labels[i] for i in pm.differ)
    text = (
        f"The clean prompt makes {target} {pm.p_clean:.0%} likely next, the corrupt one {pm.p_corrupt:.0%}; "
        f"they differ at {where}. "
    )
    if pm.stage != "resid":
        row, pos = divmod(int(pm.restored.argmax()), T)
        big = int((pm.restored >= 0.25).sum())
        return text + (
            f"Patching {STAGES[pm.stage]} alone restores the most at {row_label(pm.rows[row])}, "
            f"{labels[pos]}: {float(pm.restored[row, pos]):.0%}. Cells that restore 25% or more: {big} of "
            f"{pm.restored.numel()}."
        )
    if T - 1 in pm.differ:
        return text + "They differ at the last position itself, so the difference sits there from the start."
    at_last = pm.restored[:, -1]
    k = int((at_last >= 0.5).nonzero()[0])  # the last row always restores it all: it is the model's output
    changed = float(pm.restored[k - 1, list(pm.differ)].max())
    return text + (
        f"{_stream(pm.rows[k - 1]).capitalize()} the difference still sits at the changed character "
        f"(patching it there restores {changed:.0%}); {_stream(pm.rows[k])}, the last position alone "
        f"restores {float(at_last[k]):.0%}: block {k - 1}'s attention has moved most of it to the "
        "position that predicts."
    )


def _stream(site: Site) -> str:
    return "in the embeddings" if site.layer == 0 else f"in the stream after block {site.layer - 1}"


def copy_sentence(nc: NameCopy) -> str:
    """Whether greedy decoding completes the repeated name, and the characters' probabilities."""
    first = nc.text[nc.text.rindex(nc.chars) - 1]
    name = first + nc.chars
    done = (
        "it copies the name"
        if nc.completion == nc.chars
        else f"it does not copy the name (that would be {nc.chars!r})"
    )
    return (
        f"After the second {first!r} the model writes {nc.completion!r}: {done}. The characters of "
        f"{name!r} after the first get p = {float(nc.first.mean()):.0%} on average where the name first "
        f"appears, {float(nc.second.mean()):.0%} where it appears again, and "
        f"{float(nc.second_without.mean()):.0%} there without {head_label(nc.head)}."
    )
