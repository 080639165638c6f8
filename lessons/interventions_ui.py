"""Streamlit components of the "which part does what" lesson (lessons/8_interventions.py): the
validation slice and every result computed on it, cached per checkpoint version, text, ablation
and prompt, so that moving a widget after the first computation only reruns what it changed.
The computations are `course.interventions`' and `course.induction`'s."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import streamlit as st
import torch

from course import induction, interventions_views, patching
from course import interventions as iv
from course.figures import interventions as figures
from course.generation import read_prompt
from course.interventions import InterventionError, Site
from course.text import char_label
from lessons import ui
from tinygpt.data import split_data


class Reference(NamedTuple):
    """A fixed slice of the learner's validation text, read by one checkpoint."""

    key: str  # the checkpoint version and the text's digest: the cache key of what is computed on it
    x: torch.Tensor  # (rows, T) the tokens
    y: torch.Tensor  # (rows, T) each one's next token
    means: dict  # every head's, attention layer's and MLP's mean activation on x (for mean ablation)
    unknown: int  # characters of the text outside the checkpoint's vocabulary (read as its replacement)


# Results are cached per checkpoint version and reference slice: the model itself is never hashed.
BY_KEY = {ui.Picked: lambda picked: picked.key, Reference: lambda ref: ref.key}


@st.cache_resource(show_spinner="Reading the validation text…", max_entries=4, hash_funcs=BY_KEY)
def reference(picked: ui.Picked, text: str) -> Reference | str:
    """The slice every ablation is measured on, or why there is none."""
    tok, model = picked.checkpoint.tokenizer, picked.checkpoint.model
    val = split_data(torch.tensor(tok.encode(text, unknown="replace"), dtype=torch.long)).val
    try:
        x, y = (t.to(model.lm_head.weight.device) for t in iv.reference_batch(val, model.config.block_size))
    except InterventionError as e:
        return str(e)
    means = iv.mean_activations(model, x, iv.heads(model) + iv.layers(model))
    digest = hashlib.sha1(text.encode()).hexdigest()
    return Reference(f"{picked.key}:{digest}", x, y, means, sum(ch not in tok.stoi for ch in set(text)))


@st.cache_resource(show_spinner="Switching off each head in turn…", max_entries=8, hash_funcs=BY_KEY)
def head_ablations(picked: ui.Picked, ref: Reference, mode: str) -> iv.Ablations:
    model = picked.checkpoint.model
    return iv.ablate_each(model, ref.x, ref.y, iv.heads(model), mode, ref.means)


@st.cache_resource(show_spinner="Switching off each layer in turn…", max_entries=8, hash_funcs=BY_KEY)
def part_ablations(picked: ui.Picked, ref: Reference, mode: str) -> iv.Ablations:
    model = picked.checkpoint.model
    return iv.ablate_each(model, ref.x, ref.y, iv.layers(model), mode, ref.means)


@st.cache_resource(show_spinner=False, max_entries=64, hash_funcs=BY_KEY)
def without(picked: ui.Picked, ref: Reference, ids: tuple, site: Site, mode: str) -> torch.Tensor:
    """The logits at the prompt's last position with `site` switched off."""
    idx = torch.tensor([ids], device=picked.checkpoint.model.lm_head.weight.device)
    return iv.without(picked.checkpoint.model, idx, site, mode, ref.means)[-1]


HEAD_KEY, HEAD_MAP = "interventions_head", "interventions_fig_heads"


def _take_click(n_heads: int) -> None:
    """Called when the head map's selection changes: a clicked head becomes the chooser's value."""
    state = st.session_state.get(HEAD_MAP)
    points = state.selection.points if state else []
    if points and points[0].get("curve_number") == 1 and points[0].get("point_index", n_heads) < n_heads:
        st.session_state[HEAD_KEY] = points[0]["point_index"]


def head_choice(ab: iv.Ablations, n_layer: int, n_head: int) -> Site:
    """A head chooser (a click on the head map sets it too), the costliest head first chosen."""
    options = list(range(n_layer * n_head))
    top = ab.top()
    site = lambda i: Site("head", *divmod(i, n_head))  # noqa: E731
    # plain labels: a label with the head's rise would go stale in the browser when the ablation changes
    chosen = st.selectbox(
        "Head",
        options,
        top.layer * n_head + top.head,
        format_func=lambda i: interventions_views.head_label(site(i)),
        key=HEAD_KEY,
        help="Or click a head on the map. First chosen: the head whose absence costs the most.",
    )
    return site(chosen)


def head_map(ab: iv.Ablations, n_layer: int, n_head: int, site: Site) -> None:
    """The head map, whose cells can be clicked to choose a head (see `_take_click`)."""
    fig = figures.head_map_figure(ab, n_layer, n_head, site)
    st.plotly_chart(
        fig,
        key=HEAD_MAP,
        on_select=lambda: _take_click(n_layer * n_head),
        selection_mode="points",
        config={"displayModeBar": False},
    )


# ---- patching ----------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Patching each block at each position…", max_entries=16, hash_funcs=BY_KEY)
def patch_map(picked: ui.Picked, clean: tuple, corrupt: tuple, stage: str) -> patching.PatchMap | str:
    try:
        return patching.patch_map(picked.checkpoint.model, list(clean), list(corrupt), stage)
    except InterventionError as e:
        return str(e)


def read_pair(picked: ui.Picked, clean: str, corrupt: str) -> tuple[tuple, tuple, tuple[str, ...]]:
    """Both prompts as the model reads them (cut to block_size), and position labels that show
    both characters where they differ."""
    tok, block_size = picked.checkpoint.tokenizer, picked.checkpoint.config.block_size
    a, b = (tuple(read_prompt(tok, text).ids[-block_size:]) for text in (clean, corrupt))
    labels = []
    for i, (p, q) in enumerate(zip(a, b, strict=False)):
        shown = char_label(tok.itos[p]) + ("" if p == q else f"→{char_label(tok.itos[q])}")
        labels.append(f"{i}:{shown}")
    return a, b, tuple(labels)


def patch_section(picked: ui.Picked, clean: str, corrupt: str, stage: str) -> None:
    """The patch map of two prompts and what it says, or why there is none."""
    a, b, labels = read_pair(picked, clean, corrupt)
    pm = patch_map(picked, a, b, stage)
    if isinstance(pm, str):
        st.info(f"Nothing to patch: {pm}.", icon=":material/info:")
        return
    ui.plot(figures.patch_figure(pm, labels), "interventions_fig_patch")
    st.markdown(interventions_views.patch_summary(pm, labels, picked.checkpoint.tokenizer.itos))


# ---- induction ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Looking for induction heads…", max_entries=8, hash_funcs=BY_KEY)
def induction_heads(picked: ui.Picked, ref: Reference) -> induction.Induction | str:
    """Induction scores, the heads switched off by mean ablation whatever the head map uses: a
    change of the head map's ablation then leaves this section as it was."""
    try:
        return induction.measure(picked.checkpoint.model, "mean", ref.means)
    except ValueError as e:
        return str(e)


@st.cache_resource(show_spinner=False, max_entries=16, hash_funcs=BY_KEY)
def name_copy(picked: ui.Picked, ref: Reference, name: str, head: Site) -> induction.NameCopy | str:
    ckpt = picked.checkpoint
    try:
        return induction.copy_name(ckpt.model, ckpt.tokenizer, name, head, "mean", ref.means)
    except ValueError as e:
        return str(e)


def copying(picked: ui.Picked, ref: Reference, ind: induction.Induction) -> None:
    """A name typed by the learner, repeated: does the model copy it?"""
    name = st.text_input("A name the model has never read", "Zorbak", max_chars=40, key="interventions_name")
    nc = name_copy(picked, ref, name.strip(), ind.key_head())
    if isinstance(nc, str):
        st.info(f"{nc[0].upper()}{nc[1:]}.", icon=":material/info:")
        return
    st.code(nc.text, language=None)
    ui.plot(figures.copy_figure(nc), "interventions_fig_copy")
    st.markdown(interventions_views.copy_sentence(nc))
