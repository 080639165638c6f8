"""Lesson 2: the attention trick — averaging the past three ways, self-attention, and a trained GPT's heads.

Every number comes from `tinygpt.attention_demo`; the figures from `lessons.attention_charts`.
"""

import numpy as np
import streamlit as st

from course import attention as ad
from course.figures import attention as charts
from lessons.ui import (
    LESSONS,
    cached_checkpoint,
    checkpoint_choices,
    checkpoint_label,
    next_lesson,
    show_source,
)
from tinygpt.checkpoint import CheckpointError
from tinygpt.gpt import GPT, explicit_attention

DEFAULT_PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?"
TRAINING = "lessons/4_training.py"
LESSON_TITLES = {path: title for path, title, _ in LESSONS}


def show(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


@st.cache_resource(show_spinner=False, max_entries=512)
def _heatmap(z, title, **options):
    return charts.heatmap(z, title, **options)  # a shared figure: Streamlit only reads it


def heatmap(z, title: str, *, key: str, **options) -> None:
    """A heatmap of `z`; the figure is built once per distinct input, so a rerun that only moves
    another section's slider reuses it."""
    show(_heatmap(np.asarray(z), title, **options), key)


@st.cache_data(show_spinner=False)
def score_variance() -> ad.ScaleStats:
    return ad.score_variance()


@st.cache_data(show_spinner=False, max_entries=32)
def trained_attention(path: str, mtime: float, prompt: str) -> ad.ModelAttention:
    return ad.model_attention(cached_checkpoint(path, mtime), prompt)


st.title("The attention trick")
st.markdown(
    "A token should learn from the tokens **before** it, never after. The simplest way: make position *t* "
    "the **average** of positions 0…*t*. The lecture writes that average three ways, then lets the data "
    "choose the weights — that is **self-attention**. Change the toy input in the sidebar."
)
with st.sidebar:
    st.subheader("Toy input x")
    T = st.slider("T (time steps)", 2, 16, 8, key="attn_T")
    C = st.slider("C (channels)", 1, 16, 8, key="attn_C")
    seed = st.slider("seed", 0, 100, 42, key="attn_seed")
x = ad.toy_input(T, C, seed)  # (T, C)

st.header("1 · Averaging the past, three ways")
demo = ad.averaging_trick(x)
cols = st.columns(4)
with cols[0]:
    heatmap(x, f"x: {T} steps × {C} channels", axes=charts.CHANNELS, key="attn_fig_x")
    st.caption("Random numbers stand in for token embeddings: row *t* is one token.")
sources = (ad.average_loop, ad.average_matmul, ad.average_softmax)
for i, (col, version, source) in enumerate(zip(cols[1:], demo.versions, sources, strict=True), start=1):
    with col:
        heatmap(version.wei, f"{version.name}: weights", weights=True, key=f"attn_fig_v{i}_wei")
        heatmap(version.out, "output = weights @ x", axes=charts.CHANNELS, key=f"attn_fig_v{i}_out")
        show_source(source, label="Show the code")
st.caption(
    "Version 1 has no matrix: its weights are what the loop makes of the identity matrix. "
    "Version 3 is the one that generalises — softmax over affinities, with the future masked to −∞."
)
verdict = "agree" if demo.allclose else "do NOT agree"
st.success(
    f"The three outputs {verdict}: `torch.allclose` → **{demo.allclose}**, largest difference "
    f"**{demo.max_abs_diff:.1e}** (floating-point rounding). They are one operation.",
    icon=":material/check_circle:" if demo.allclose else ":material/error:",
)

st.header("2 · Self-attention: weights that depend on the data")
st.markdown(
    "Every token emits a **query** (what am I looking for?) and a **key** (what do I contain?). "
    "The affinity of token *t* for token *s* is q<sub>t</sub>·k<sub>s</sub>; the output is the "
    "weighted sum of their **values**. Here q, k and v come from random (untrained) linear maps of x.",
    unsafe_allow_html=True,
)
c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
head_size = c1.slider("head size", 1, 64, 16, key="attn_head_size")
causal = c2.toggle("causal mask (decoder)", True, key="attn_causal")
scale = c3.toggle("scale by 1/√head_size", True, key="attn_scale")
att = ad.self_attention(x, ad.random_head(C, head_size, seed), causal=causal, scale=scale)
cols = st.columns(4)
with cols[0]:
    heatmap(att.scores, "q·kᵀ / √head_size" if scale else "q·kᵀ (unscaled)", key="attn_fig_scores")
with cols[1]:
    heatmap(att.masked, "masked: −∞ above the diagonal" if causal else "no mask", key="attn_fig_masked")
with cols[2]:
    heatmap(att.wei, "softmax → weights", weights=True, key="attn_fig_wei")
with cols[3]:
    title = f"output = weights @ v ({T}×{head_size})"
    heatmap(att.out, title, axes=charts.CHANNELS, key="attn_fig_out")
st.caption(
    "Switch the mask off and every token also reads the future: fine in an *encoder* block (say, for "
    "sentiment), but a language model predicting the next character would be cheating."
)
show_source(ad.self_attention, ad.attend)

st.header("3 · Why divide by √head_size?")
left, right = st.columns(2, gap="large")
with left:
    show(charts.variance_figure(score_variance(), head_size), "attn_fig_variance")
    st.caption(
        "q·k adds up *head size* products of unit variance, so its variance grows with the head size. "
        "Dividing by √head_size brings it back to about 1, whatever the head size."
    )
with right:
    temperature = st.slider("softmax temperature", 0.05, 3.0, 1.0, 0.05, key="attn_temperature")
    probs = ad.softmax_temperature(ad.LECTURE_SCORES, temperature)
    show(charts.temperature_figure(ad.LECTURE_SCORES, probs, temperature), "attn_fig_temperature")
    st.caption(
        f"Unscaled scores of head size {head_size} are {head_size**0.5:.1f}× too big — like temperature "
        f"{head_size**-0.5:.2f}. Softmax then turns almost **one-hot**: each token listens to a single "
        "other token, and at initialisation that slows learning."
    )
show_source(ad.score_variance, ad.softmax_temperature)

st.header("4 · Multi-head attention")
choices = [n for n in range(1, min(C, 8) + 1) if C % n == 0]
c1, c2 = st.columns([1, 2], gap="large", vertical_alignment="center")
n_head = 1  # C = 1 or a prime above 8 splits only one way
if len(choices) > 1:
    n_head = c1.select_slider("number of heads", choices, value=2 if 2 in choices else 1, key="attn_n_head")
multi = ad.multi_head_attention(x, n_head, seed, causal=causal, scale=scale)
hs = C // n_head
c2.markdown(
    f"Split C = {C} channels into **{n_head} head{'s' * (n_head > 1)} of size {hs}**. Each head has its "
    "own q, k and v, so each can look for something different; their outputs are concatenated back to C."
)
grid = st.columns(4)
for h, head in enumerate(multi.heads):
    with grid[h % 4]:
        heatmap(head.wei, f"head {h}: weights", weights=True, height=240, key=f"attn_fig_head{h}")
left, right = st.columns(2, gap="large")
with left:
    title = f"heads concatenated → {T}×{C}"
    dividers = tuple(range(hs, C, hs))
    heatmap(multi.out, title, axes=charts.CHANNELS, height=260, dividers=dividers, key="attn_fig_concat")
with right:
    st.caption(
        f"Channels 0–{hs - 1} are head 0's output, the next {hs} head 1's, and so on. Many small heads "
        "cost the same as one big one: the GPT does them all in one matrix multiply."
    )
    show_source(ad.multi_head_attention)

st.header("5 · Attention inside a trained GPT")
gpts = {path: meta for path, meta in checkpoint_choices() if meta["model_type"] == "gpt"}
if not gpts:
    st.info(
        "There is no trained GPT checkpoint yet: train one in lesson 3, then come back.",
        icon=":material/info:",
    )
    st.page_link(TRAINING, label=f"Go to {LESSON_TITLES[TRAINING]}", icon=":material/arrow_forward:")
else:
    c1, c2 = st.columns([1, 2])
    label = lambda p: checkpoint_label(p, gpts[p])  # noqa: E731
    path = c1.selectbox("checkpoint", list(gpts), format_func=label, key="attn_ckpt")
    prompt = c2.text_area("prompt", DEFAULT_PROMPT, height=80, key="attn_prompt")
    maps = None
    if not prompt:
        st.info("Type a prompt to see how the model reads it.", icon=":material/keyboard:")
    else:
        try:
            maps = trained_attention(str(path), path.stat().st_mtime, prompt)
        except (CheckpointError, OSError, ValueError) as e:
            st.error(f"Cannot show this model's attention: {e}", icon=":material/error:")
    if maps is not None:
        n_layer, n_head_model, t = maps.weights.shape[:3]
        left, right = st.columns([3, 2], gap="large")
        with right:
            layer = st.selectbox(
                "layer", range(n_layer), format_func=lambda i: f"layer {i}", key="attn_layer"
            )
            head = st.selectbox(
                "head", range(n_head_model), format_func=lambda i: f"head {i}", key="attn_head"
            )
            if maps.unknown:
                shown = ", ".join(repr(ch) for ch in maps.unknown)
                st.warning(
                    f"Not in this model's vocabulary: {shown}. Each was replaced by {maps.replacement!r}."
                )
            if maps.cropped:
                st.info(f"The model reads at most {t} characters: the first {maps.cropped} were left out.")
            st.caption(
                "Each row is one position of the prompt; its weights say which earlier characters it "
                "reads. Rows sum to 1, and everything above the diagonal is 0: the future is masked. "
                "Hover over a cell for its exact weight."
            )
            show_source(GPT.attention_maps, explicit_attention)
        with left:
            title = f"layer {layer}, head {head}: row t attends to column s"
            height = min(760, max(380, 160 + 10 * t))
            options = dict(weights=True, labels=maps.labels, height=height)
            heatmap(maps.weights[layer, head], title, key="attn_fig_trained", **options)

next_lesson("lessons/2_attention.py")
