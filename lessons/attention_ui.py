"""Streamlit components of the attention lesson (lessons/2_attention.py): cached heatmaps and the
trained GPT's attention viewer."""

import numpy as np
import streamlit as st

from course import attention
from course.figures import attention as figures
from lessons import ui
from tinygpt.gpt import GPT, CausalSelfAttention, explicit_attention

DEFAULT_PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?"


@st.cache_resource(show_spinner=False, max_entries=512)
def _heatmap(z, title, **options):
    return figures.heatmap(z, title, **options)  # shared by every session: Streamlit only reads it


def heatmap(z, title: str, *, key: str, **options) -> None:
    """A heatmap of `z`, built once per distinct input, so moving another section's slider reuses it."""
    ui.plot(_heatmap(np.asarray(z), title, **options), key)


@st.cache_data(show_spinner=False)
def score_variance() -> attention.ScaleStats:
    return attention.score_variance()


def trained_attention() -> None:
    """Pick a trained GPT and a prompt; draw one layer and head of its attention."""
    left, right = st.columns([1, 2])
    picked = ui.pick_checkpoint("attn_ckpt", model_type="gpt", where=left)
    prompt = right.text_area("prompt", DEFAULT_PROMPT, height=80, key="attn_prompt")
    if picked is None:
        return
    if not prompt:
        st.info("Type a prompt to see how the model reads it.", icon=":material/keyboard:")
        return
    maps = attention.model_attention(picked.checkpoint, prompt)
    n_layer, n_head, t = maps.weights.shape[:3]
    left, right = st.columns([3, 2], gap="large")
    layer = right.selectbox("layer", range(n_layer), format_func=lambda i: f"layer {i}", key="attn_layer")
    head = right.selectbox("head", range(n_head), format_func=lambda i: f"head {i}", key="attn_head")
    if maps.unknown:
        shown = ", ".join(repr(ch) for ch in maps.unknown)
        right.warning(f"Not in this model's vocabulary: {shown}. Each was replaced by {maps.replacement!r}.")
    if maps.cropped:
        right.info(f"The model reads at most {t} characters: the first {maps.cropped} were left out.")
    right.caption(
        "Each row is one position of the prompt; its weights say which earlier characters it reads. Rows sum "
        "to 1, and everything above the diagonal is 0: the future is masked. Hover over a cell for its weight."
    )
    with right:
        ui.show_source(GPT.attention_maps, CausalSelfAttention.forward, explicit_attention)
    with left:
        options = dict(weights=True, labels=maps.labels, height=min(760, max(380, 160 + 10 * t)))
        heatmap(
            maps.weights[layer, head],
            f"layer {layer}, head {head}: row t attends to column s",
            key="attn_fig_trained",
            **options,
        )
