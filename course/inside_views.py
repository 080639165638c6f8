"""What the "inside the model" lesson draws from a trace (`course.inside`): characters by kind and
their embeddings in 2-D, the position embeddings' similarity, per-token statistics, the logit lens
as a table, the top next characters, and the architecture's stages for the diagram."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course.inside import Trace
from course.text import char_label
from tinygpt.gpt import GPT
from tinygpt.sample import next_token_probs

KINDS = ("vowel", "consonant", "upper case", "digit", "punctuation", "space/newline")


def char_kind(ch: str) -> str:
    """One of KINDS, for colouring a character's embedding."""
    if ch.isspace():
        return "space/newline"
    if ch.isdigit():
        return "digit"
    if ch.isupper():
        return "upper case"
    if ch.isalpha():
        return "vowel" if ch.lower() in "aeiou" else "consonant"
    return "punctuation"


@dataclass(frozen=True)
class EmbeddingMap:
    points: torch.Tensor  # (vocab_size, 2): each character's embedding on the first two principal axes
    chars: tuple[str, ...]
    kinds: tuple[str, ...]
    explained: tuple[float, float]  # the share of the embeddings' variance along each axis


def embedding_map(model: GPT, chars: str) -> EmbeddingMap:
    """The character embeddings (wte) projected on their first two principal components (SVD of the
    centred matrix; signs fixed so the result does not flip between runs)."""
    w = model.transformer.wte.weight.detach().float().cpu()
    w = w - w.mean(0)
    _, s, vh = torch.linalg.svd(w, full_matrices=False)
    axes = vh[:2] * torch.sign(vh[:2].sum(1, keepdim=True) + 1e-12)  # (2, C)
    variance = s**2 / (s**2).sum()
    points = w @ axes.T  # (V, C) x (C, 2) -> (V, 2)
    return EmbeddingMap(
        points, tuple(chars), tuple(char_kind(ch) for ch in chars), tuple(variance[:2].tolist())
    )


def position_similarity(model: GPT) -> torch.Tensor | None:
    """Cosine similarity between every pair of learned position embeddings (block_size, block_size);
    None when the model has none."""
    if "wpe" not in model.transformer:
        return None
    w = nn.functional.normalize(model.transformer.wpe.weight.detach().float().cpu(), dim=1)
    return w @ w.T  # (block, C) x (C, block) -> (block, block)


def token_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token's mean and standard deviation over its channels: what LayerNorm normalises. x (T, C)."""
    return x.mean(-1), x.std(-1, correction=0)


def stream_names(trace: Trace) -> list[str]:
    """Names of `Trace.streams`, in order."""
    names = ["embedding"]
    for i, layer in enumerate(trace.layers):
        names += [f"{i}: + attention"] + ([f"{i}: + MLP"] if layer.hidden is not None else [])
    return names


def top_next(logits: torch.Tensor, itos: dict, k: int = 10, temperature: float = 1.0) -> list[dict]:
    """The k likeliest next characters from logits (vocab,) at `temperature` (sampling's own
    `next_token_probs`), as rows {char, label, p}."""
    probs = next_token_probs(logits, temperature)
    p, ids = probs.topk(min(k, probs.numel()))
    return [
        {"char": itos[i], "label": char_label(itos[i]), "p": v}
        for v, i in zip(p.tolist(), ids.tolist(), strict=True)
    ]


@dataclass(frozen=True)
class Lens:
    """The logit lens as a table: rows are the embedding and each block, columns the positions."""

    rows: tuple[str, ...]
    top: list[list[str]]  # (rows, T) the likeliest next character at each
    p: torch.Tensor  # (rows, T) its probability
    hover: list[list[str]]  # (rows, T) the top three with probabilities
    hits: tuple[int, ...]  # per row: positions whose guess is the character that really comes next

    @property
    def summary(self) -> str:
        """How often each row guessed the prompt's real next character, as a sentence."""
        n = len(self.top[0]) - 1
        return "Right guesses of the next character: " + ", ".join(
            f"{row} {hits}/{n}" for row, hits in zip(self.rows, self.hits, strict=True)
        )


def lens_table(t: Trace, itos: dict, k: int = 3) -> Lens:
    probs = t.lens.float().softmax(-1)  # (L + 1, T, V)
    p, ids = probs.topk(k, dim=-1)
    label = lambda i: char_label(itos[i])  # noqa: E731
    top = [[label(row[0]) for row in layer] for layer in ids.tolist()]
    hover = [
        [
            " ".join(f"{label(i)} {q:.0%}" for i, q in zip(ii, pp, strict=True))
            for ii, pp in zip(li, lp, strict=True)
        ]
        for li, lp in zip(ids.tolist(), p.tolist(), strict=True)
    ]
    actual = torch.tensor(t.ids[1:], device=ids.device)
    hits = tuple(int((ids[r, :-1, 0] == actual).sum()) for r in range(ids.size(0)))
    n = len(t.layers)
    rows = ("embedding", *(f"after block {i}" for i in range(n - 1)), f"after block {n - 1} = the output")
    return Lens(rows, top, p[..., 0], hover, hits)


# ---- the architecture's stages, for the diagram ----------------------------------------------------

# Each stage the diagram can show, in the order the forward pass reaches it: name -> label.
STAGES = {
    "tok_emb": "token embedding (wte)",
    "pos_emb": "position embedding (wpe)",
    "x0": "x = token + position",
    "ln_1": "LayerNorm 1 (ln_1)",
    "heads": "attention heads",
    "attn_out": "attention projection (c_proj)",
    "resid_mid": "x + attention",
    "ln_2": "LayerNorm 2 (ln_2)",
    "hidden": "MLP hidden units (c_fc, act)",
    "mlp_out": "MLP output (c_proj)",
    "resid_out": "x + MLP",
    "ln_f": "final LayerNorm (ln_f)",
    "logits": "logits (lm_head)",
}
BLOCK_STAGES = ("ln_1", "heads", "attn_out", "resid_mid", "ln_2", "hidden", "mlp_out", "resid_out")


def stages_of(t: Trace) -> list[str]:
    """The stages this model has (a config can remove position embeddings or the MLP)."""
    return [s for s in STAGES if stage_tensor(t, s, 0) is not None]


def stage_tensor(t: Trace, stage: str, layer: int) -> torch.Tensor | None:
    """The tensor (T, width) that `stage` produced (in block `layer` for a block's stage)."""
    if stage in BLOCK_STAGES:
        if stage == "resid_out" and t.layers[layer].hidden is None:
            return None  # without an MLP the block ends at x + attention
        return getattr(t.layers[layer], stage)
    return getattr(t, stage)
