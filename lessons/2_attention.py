"""Lesson 2: the attention trick — averaging the past three ways, self-attention, and a trained GPT's heads.

Every number comes from `course.attention`; the figures from `course.figures.attention`.
"""

import streamlit as st

from course import attention
from course.figures import attention as figures
from lessons import ui
from lessons.attention_extras import attention_extras
from lessons.attention_ui import heatmap, score_variance, trained_attention

PAGE = "lessons/2_attention.py"
CHANNELS = figures.CHANNELS


ui.header(
    PAGE,
    "A token should learn from the tokens **before** it, never after. The simplest way: make position *t* "
    "the **average** of positions 0…*t*. The lecture writes that average three ways, then lets the data "
    "choose the weights — that is **self-attention**. Change the toy input in the sidebar.",
)
with st.sidebar:
    st.subheader("Toy input x")
    T = st.slider("T (time steps)", 2, 16, 8, key="attn_T")
    C = st.slider("C (channels)", 1, 16, 8, key="attn_C")
    seed = st.slider("seed", 0, 100, 42, key="attn_seed")
x = attention.toy_input(T, C, seed)  # (T, C)

st.header("1 · Averaging the past, three ways")
demo = attention.averaging_trick(x)
cols = st.columns(4)
with cols[0]:
    heatmap(x, f"x: {T} steps × {C} channels", axes=CHANNELS, key="attn_fig_x")
    st.caption("Random numbers stand in for token embeddings: row *t* is one token.")
sources = (attention.average_loop, attention.average_matmul, attention.average_softmax)
for i, (col, version, source) in enumerate(zip(cols[1:], demo.versions, sources, strict=True), start=1):
    with col:
        heatmap(version.wei, f"{version.name}: weights", weights=True, key=f"attn_fig_v{i}_wei")
        heatmap(version.out, "output = weights @ x", axes=CHANNELS, key=f"attn_fig_v{i}_out")
        ui.show_source(source, label="Show the code")
st.caption(
    "Version 1 has no matrix: its weights are what the loop makes of the identity matrix. "
    "Version 3 is the one that generalises — softmax over affinities, with the future masked to −∞."
)
st.success(
    f"The three outputs {'agree' if demo.allclose else 'do NOT agree'}: `torch.allclose` → **{demo.allclose}**, "
    f"largest difference **{demo.max_abs_diff:.1e}** (floating-point rounding). They are one operation.",
    icon=":material/check_circle:" if demo.allclose else ":material/error:",
)

st.header("2 · Self-attention: weights that depend on the data")
st.markdown(
    "Every token emits a **query** (what am I looking for?) and a **key** (what do I contain?). The affinity "
    "of token *t* for token *s* is q<sub>t</sub>·k<sub>s</sub>; the output is the weighted sum of their "
    "**values**. Here q, k and v come from random (untrained) linear maps of x.",
    unsafe_allow_html=True,
)
c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
head_size = c1.slider("head size", 1, 64, 16, key="attn_head_size")
causal = c2.toggle("causal mask (decoder)", True, key="attn_causal")
scale = c3.toggle("scale by 1/√head_size", True, key="attn_scale")
att = attention.self_attention(x, attention.random_head(C, head_size, seed), causal=causal, scale=scale)
steps = [
    (att.scores, "q·kᵀ / √head_size" if scale else "q·kᵀ (unscaled)", "attn_fig_scores", {}),
    (att.masked, "masked: −∞ above the diagonal" if causal else "no mask", "attn_fig_masked", {}),
    (att.wei, "softmax → weights", "attn_fig_wei", dict(weights=True)),
    (att.out, f"output = weights @ v ({T}×{head_size})", "attn_fig_out", dict(axes=CHANNELS)),
]
for col, (z, title, key, options) in zip(st.columns(4), steps, strict=True):
    with col:
        heatmap(z, title, key=key, **options)
st.caption(
    "Switch the mask off and every token also reads the future: fine in an *encoder* block (say, for "
    "sentiment), but a language model predicting the next character would be cheating."
)
ui.show_source(attention.self_attention, attention.attend)

st.header("3 · Why divide by √head_size?")
left, right = st.columns(2, gap="large")
with left:
    ui.plot(figures.variance_figure(score_variance(), head_size), "attn_fig_variance")
    st.caption(
        "q·k adds up *head size* products of unit variance, so its variance grows with the head size. "
        "Dividing by √head_size brings it back to about 1, whatever the head size."
    )
with right:
    temperature = st.slider("softmax temperature", 0.05, 3.0, 1.0, 0.05, key="attn_temperature")
    probs = attention.softmax_temperature(attention.LECTURE_SCORES, temperature)
    ui.plot(figures.temperature_figure(attention.LECTURE_SCORES, probs, temperature), "attn_fig_temperature")
    st.caption(
        f"Unscaled scores of head size {head_size} are {head_size**0.5:.1f}× too big — like temperature "
        f"{head_size**-0.5:.2f}. Softmax then turns almost **one-hot**: each token listens to a single "
        "token (possibly itself), and at initialisation that slows learning. In the video the lecture's code "
        "divides by √n_embd (its `C**-0.5`, C = n_embd); the published code, and this library, by √head_size."
    )
ui.show_source(attention.score_variance, attention.softmax_temperature)

st.header("4 · Multi-head attention")
choices = [n for n in range(1, min(C, 8) + 1) if C % n == 0]  # C = 1 or a prime above 8 splits one way
c1, c2 = st.columns([1, 2], gap="large", vertical_alignment="center")
n_head = (
    c1.select_slider("number of heads", choices, 2 if 2 in choices else 1, key="attn_n_head")
    if len(choices) > 1
    else 1
)
multi, hs = attention.multi_head_attention(x, n_head, seed, causal=causal, scale=scale), C // n_head
c2.markdown(
    f"Split C = {C} channels into **{n_head} head{'s' * (n_head > 1)} of size {hs}**. Each head has its own "
    "q, k and v, so each can look for something different; their outputs are concatenated back to C, then a "
    "linear **projection** mixes what the heads found."
)
grid = st.columns(4)
for h, head in enumerate(multi.heads):
    with grid[h % 4]:
        heatmap(head.wei, f"head {h}: weights", weights=True, height=240, key=f"attn_fig_head{h}")
left, middle, right = st.columns(3, gap="large")
with left:
    dividers = tuple(range(hs, C, hs))
    heatmap(
        multi.out,
        f"heads concatenated → {T}×{C}",
        axes=CHANNELS,
        height=260,
        dividers=dividers,
        key="attn_fig_concat",
    )
with middle:
    heatmap(multi.proj, f"projected → {T}×{C}", axes=CHANNELS, height=260, key="attn_fig_proj")
with right:
    st.caption(
        f"Channels 0–{hs - 1} of the concatenation are head 0's output, the next {hs} head 1's, and so on; "
        "after the projection every channel mixes all heads. Many small heads cost the same as one big one: "
        "the GPT computes every head's q, k and v in one matrix multiply (`c_attn`), which is the lecture's "
        "separate `Head` modules side by side."
    )
    ui.show_source(attention.multi_head_attention)

attention_extras(x, seed, head_size, start=5)

st.header("8 · Attention inside a trained GPT")
trained_attention()
ui.next_lesson(PAGE)
