"""One traced forward pass of a trained GPT, and what the "inside the model" lesson shows from it.

`trace(model, idx)` runs the model's own `forward` once with hooks on its modules and keeps what
each stage received or returned: embeddings, every block's LayerNorms, queries, keys, attention
weights, heads, MLP hidden units and residual stream, the final LayerNorm and the logits. No stage is
computed a second time here; the attention scores before the mask come from `tinygpt.gpt`'s own
`attention_scores`. Also here: the logit lens and dropout in train mode; `course.inside_views` holds
what the page draws from a trace.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import nn

from course.generation import read_prompt
from course.text import char_label
from tinygpt.device import use_threads
from tinygpt.gpt import GPT, attention_scores, dropout

# One prompt is at most block_size rows: too little work to share between threads, and a second
# thread that waits for a busy core stalls the pass. Measured on a shared 2-core CPU, the shipped GPT
# at 64 characters: 45 ms on one thread against 215 ms on two (OpenMP's default wait policy).
TRACE_THREADS = 1


@dataclass(frozen=True)
class LayerTrace:
    """What one block saw, for one sequence (no batch dimension). None where the config removed the piece."""

    resid_in: torch.Tensor  # (T, C) the residual stream entering the block
    ln_1: torch.Tensor  # (T, C) after the first LayerNorm (the input again when LayerNorm is off)
    q: torch.Tensor  # (nh, T, hs) queries
    k: torch.Tensor  # (nh, T, hs) keys
    scale: float  # what q·kᵀ is multiplied by: 1/sqrt(head_size), or 1 when the config turns scaling off
    scores: torch.Tensor  # (nh, T, T) q·kᵀ·scale, before the mask
    weights: torch.Tensor  # (nh, T, T) after the mask and softmax: the model's own attention weights
    heads: torch.Tensor  # (T, C) the heads' outputs side by side, before the projection
    attn_out: torch.Tensor  # (T, C) after the projection (and dropout)
    resid_mid: torch.Tensor  # (T, C) the stream after attention's residual add
    ln_2: torch.Tensor | None  # (T, C) after the second LayerNorm
    hidden: torch.Tensor | None  # (T, mlp_ratio * C) the MLP's hidden units, after the activation
    mlp_out: torch.Tensor | None  # (T, C) the MLP's output
    resid_out: torch.Tensor  # (T, C) the stream leaving the block


@dataclass(frozen=True)
class Trace:
    """One forward pass of one sequence, stage by stage. `logits` is what `model(idx)` returned."""

    ids: tuple[int, ...]
    tok_emb: torch.Tensor  # (T, C) wte(idx)
    pos_emb: torch.Tensor | None  # (T, C) wpe(0..T-1); None without position embeddings
    x0: torch.Tensor  # (T, C) the embeddings after dropout: the stream entering block 0
    layers: tuple[LayerTrace, ...]
    ln_f: torch.Tensor  # (T, C) after the final LayerNorm
    logits: torch.Tensor  # (T, vocab_size)
    lens: torch.Tensor  # (n_layer + 1, T, vocab_size): the stream after the embedding and each block, decoded

    @property
    def streams(self) -> list[torch.Tensor]:
        """The residual stream at each point it changes: embedding, then per block after attention
        and after the MLP. Each (T, C)."""
        out = [self.x0]
        for layer in self.layers:
            out += [layer.resid_mid] + ([layer.resid_out] if layer.hidden is not None else [])
        return out


class _Recorder:
    """Hooks that keep what modules received or returned. They act only on the thread that made
    them: a cached model is shared with other sessions, which may run it at the same moment."""

    def __init__(self):
        self.seen: dict[str, torch.Tensor] = {}
        self.handles = []
        self.thread = threading.get_ident()

    def _mine(self) -> bool:
        return threading.get_ident() == self.thread

    def output(self, module: nn.Module | None, name: str, index: int | None = None) -> None:
        def hook(_, args, out):
            if self._mine():
                self.seen[name] = (out if index is None else out[index]).detach()

        if module is not None:
            self.handles.append(module.register_forward_hook(hook))

    def input(self, module: nn.Module | None, name: str) -> None:
        def hook(_, args):
            if self._mine():
                self.seen[name] = args[0].detach()

        if module is not None:
            self.handles.append(module.register_forward_pre_hook(hook))

    def need_weights(self, attn: nn.Module) -> None:
        """Turn on the attention's own `need_weights` flag: the explicit path, which returns its weights."""

        def hook(_, args, kwargs):
            if not self._mine():
                return None
            if len(args) >= 3:
                return (*args[:2], True, *args[3:]), kwargs
            return args, {**kwargs, "need_weights": True}

        self.handles.append(attn.register_forward_pre_hook(hook, with_kwargs=True))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _watch(model: GPT, rec: _Recorder) -> None:
    t = model.transformer
    rec.output(t.wte, "tok_emb")
    rec.output(t["wpe"] if "wpe" in t else None, "pos_emb")
    rec.output(t.drop, "x0")
    for i, block in enumerate(t.h):
        rec.input(block, f"{i}.resid_in")
        rec.output(block, f"{i}.resid_out", index=0)
        rec.output(block.ln_1, f"{i}.ln_1")
        rec.need_weights(block.attn)
        rec.output(block.attn.c_attn, f"{i}.qkv")
        rec.output(block.attn, f"{i}.weights", index=1)
        rec.input(block.attn.c_proj, f"{i}.heads")
        rec.output(block.attn, f"{i}.attn_out", index=0)
        rec.input(block.ln_2, f"{i}.resid_mid")
        rec.output(block.ln_2, f"{i}.ln_2")
        if block.mlp is not None:
            rec.output(block.mlp.act, f"{i}.hidden")
            rec.output(block.mlp, f"{i}.mlp_out")
    rec.output(t.ln_f, "ln_f")


def _layer(model: GPT, seen: dict, i: int) -> LayerTrace:
    """Block i's stages from what the hooks saw (batch dimension already dropped)."""
    attn, get = model.transformer.h[i].attn, lambda name: seen.get(f"{i}.{name}")
    qkv = get("qkv")  # (T, 3C)
    # q and k as CausalSelfAttention.forward splits them: (T, 3C) -> 2 x (nh, T, hs)
    q, k = (x.view(x.size(0), attn.n_head, -1).transpose(0, 1) for x in qkv.split(qkv.size(-1) // 3, -1)[:2])
    has_mlp = get("hidden") is not None
    return LayerTrace(
        resid_in=get("resid_in"),
        ln_1=get("ln_1"),
        q=q,
        k=k,
        scale=attn.scale,
        scores=attention_scores(q, k, attn.scale),  # (nh, T, T)
        weights=get("weights"),
        heads=get("heads"),
        attn_out=get("attn_out"),
        resid_mid=get("resid_mid") if has_mlp else get("resid_out"),  # without an MLP the block ends here
        ln_2=get("ln_2"),
        hidden=get("hidden"),
        mlp_out=get("mlp_out"),
        resid_out=get("resid_out"),
    )


@torch.no_grad()
def trace(model: GPT, idx: torch.Tensor) -> Trace:
    """Run `model(idx)` for one sequence idx (1, T) and keep every stage (see `Trace`)."""
    if idx.dim() != 2 or idx.size(0) != 1:
        raise ValueError(f"trace one sequence at a time: idx must be (1, T), got {tuple(idx.shape)}")
    with use_threads(TRACE_THREADS):
        seen = _run(model, idx)
        layers = tuple(_layer(model, seen, i) for i in range(len(model.transformer.h)))
        streams = [seen["x0"]] + [layer.resid_out for layer in layers]
        lens = logit_lens(model, streams)
    return Trace(
        ids=tuple(idx[0].tolist()),
        tok_emb=seen["tok_emb"],
        pos_emb=seen.get("pos_emb"),
        x0=seen["x0"],
        layers=layers,
        ln_f=seen["ln_f"],
        logits=seen["logits"],
        lens=lens,
    )


def _run(model: GPT, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model's own forward pass with the recording hooks on: what each module saw, and the logits."""
    rec = _Recorder()
    try:
        _watch(model, rec)
        rec.seen["logits"], _ = model(idx)
    finally:
        rec.remove()
    # one sequence: drop the batch dimension (position embeddings never had one)
    return {name: x if name == "pos_emb" else x[0] for name, x in rec.seen.items()}


def logit_lens(model: GPT, streams: list[torch.Tensor]) -> torch.Tensor:
    """Each residual stream (T, C) read the way the model reads its last one: final LayerNorm,
    then the LM head. Returns (len(streams), T, vocab_size) logits."""
    t = model.transformer
    # each stream as a batch of one, the shape the model's own pass had, so the last row is its logits exactly
    return torch.stack([model.lm_head(t.ln_f(x[None]))[0] for x in streams])


# ---- the prompt --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traced:
    """A prompt as the model read it, and its trace."""

    text: str  # what the ids decode to
    pieces: tuple[str, ...]  # each token's text: the characters, for a character model
    unknown: tuple[str, ...]  # characters outside the vocabulary (replaced)
    replacement: str
    cropped: int  # characters left out at the start (the model reads at most block_size)
    trace: Trace
    empty: bool = False  # the prompt was empty (and is read as the start character)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"{i}:{char_label(piece)}" for i, piece in enumerate(self.pieces))

    @property
    def notes(self) -> list[str]:
        """What the page should tell the reader about how the prompt was read."""
        notes = []
        if self.empty:
            notes.append(f"An empty prompt is read as {self.text!r}, the way sampling starts from nothing.")
        if self.unknown:
            shown = ", ".join(repr(ch) for ch in self.unknown[:20]) + (" …" if len(self.unknown) > 20 else "")
            notes.append(
                f"Not in this model's vocabulary: {shown}. It reads {self.replacement!r} in their place."
            )
        if self.cropped:
            notes.append(
                f"The model reads at most {len(self.text)} characters: the first {self.cropped} were left out."
            )
        return notes


def trace_prompt(model: GPT, tokenizer, prompt: str) -> Traced:
    """Trace `prompt` (unknown characters replaced, an empty one read as a newline, a long one cut
    to its last block_size tokens; any tokenizer of tinygpt.tokenizers)."""
    read = read_prompt(tokenizer, prompt)
    ids = read.ids[-model.config.block_size :]
    idx = torch.tensor([ids], dtype=torch.long, device=model.lm_head.weight.device)
    text = tokenizer.decode(ids)
    cropped = len(read.ids) - len(ids)
    pieces = tuple(tokenizer.itos[i] for i in ids)
    return Traced(
        text, pieces, tuple(read.unknown), read.replacement, cropped, trace(model, idx), empty=not prompt
    )


def dropout_twin(model: GPT, p: float) -> GPT:
    """A copy of `model` in train mode with dropout `p` (the same weights), for showing what
    dropout does without touching the shared model, which stays in eval mode."""
    twin = type(model)(model.config.replace(dropout=p)).to(model.lm_head.weight.device)
    twin.load_state_dict(model.state_dict())
    return twin.train()


def trace_seeded(model: GPT, ids: tuple[int, ...], seed: int) -> Trace:
    """`trace` under a fixed random seed, so a train-mode pass drops the same units every time."""
    idx = torch.tensor([ids], dtype=torch.long, device=model.lm_head.weight.device)
    # nn.Dropout draws from the global generator: fork_rng restores it afterwards. A training run in
    # another thread of the same server draws a few masks from this seeded state meanwhile; harmless.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return trace(model, idx)


def dropped_weights(weights: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """Attention weights through tinygpt's `dropout` as `explicit_attention` applies it in training
    (before they mix the values), under a fixed seed: some weights zeroed, the rest scaled by 1/(1-p).
    The model does not return its weights after dropout, so the page applies the same function here."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return dropout(weights, p, training=True)
