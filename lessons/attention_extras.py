"""The attention lesson's closing notes, from the lecture: attention as a directed graph, encoder vs
decoder blocks (the mask off), attention over a set, cross-attention, and batch rows that never talk.
lessons/2_attention.py calls `attention_extras(x, seed)` with its toy input; numbers come from
`course.attention_graph`, figures from `course.figures.attention_graph`."""

import streamlit as st
import torch

from course import attention, attention_graph
from course.figures import attention as charts
from course.figures import attention_graph as figures
from lessons import ui
from tinygpt.gpt import CausalSelfAttention

DECODER, ENCODER = "decoder (causal mask)", "encoder (no mask)"


def attention_extras(x: torch.Tensor, seed: int, head_size: int = 16, start: int | None = None) -> None:
    """Three sections on the toy input x (T, C), with one untrained head of `head_size` from `seed`;
    their headers are numbered from `start` ("5 · ...") when the page numbers its sections."""
    head = attention.random_head(x.size(1), head_size, seed)
    titles = [
        "Attention is a directed graph",
        "Self-attention and cross-attention",
        "Batch rows never talk to each other",
    ]
    if start is not None:
        titles = [f"{start + i} · {t}" for i, t in enumerate(titles)]
    graph_section(x, head, seed, titles[0])
    cross_section(x, head, seed, titles[1])
    batch_section(x, seed, titles[2])


def graph_section(x: torch.Tensor, head: attention.HeadWeights, seed: int, title: str) -> None:
    st.header(title)
    st.markdown(
        "Think of the positions as **nodes**. Each one sends its value along edges; what arrives at a node "
        "is summed with the attention weights. The **mask decides which edges exist**, the **softmax how "
        "much each carries**. In a *decoder* information only flows forward; delete the one masking line "
        "and you have an *encoder* block, where every position talks to every other — fine for reading a "
        "whole sentence (say, to judge its sentiment), but a language model would see the answer."
    )
    T = x.size(0)
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    mode = left.segmented_control("block", [DECODER, ENCODER], default=DECODER, key="attn_graph_mode")
    follow = right.slider("follow the messages into position t", 0, T - 1, T - 1, key="attn_graph_t")
    causal = mode != ENCODER  # a cleared segmented control reads as the default
    graph, att = attention_graph.graph_of(x, head, causal)
    labels = [str(i) for i in range(T)]
    g, h = st.columns([3, 2])
    title = f"{len(graph.edges)} edges ({'T(T+1)/2' if causal else 'T²'} for T = {T})"
    with g:
        fig = figures.graph_figure(graph, follow, src_labels=labels, dst_labels=labels, title=title)
        ui.plot(fig, "attn_graph_fig")
    with h:
        ui.plot(charts.heatmap(att.wei, "the same weights as a matrix", weights=True), "attn_graph_wei")
    both = attention_graph.encoder_vs_decoder(x, head)
    _, shuffled = attention_graph.shuffle_check(x, head, seed)
    st.caption(
        f"The last position reads every position in both blocks, so its weights agree with and without the "
        f"mask: **{both.same_last_row}**. And attention has **no notion of order**: shuffle the tokens and an "
        f"encoder's outputs shuffle with them (largest difference {shuffled:.0e}, rounding). That is why the "
        "GPT adds position embeddings."
    )
    ui.show_source(attention_graph.attention_graph, attention_graph.shuffle_check)


def cross_section(x: torch.Tensor, head: attention.HeadWeights, seed: int, title: str) -> None:
    st.header(title)
    st.markdown(
        "*Self*-attention takes queries, keys and values from the same x. In **cross-attention** the queries "
        "still come from x, but the keys and values come from **another sequence** — in the original "
        "Transformer, an encoder that read the sentence to translate. GPT has no encoder, so no "
        "cross-attention: it is **decoder-only**. Here the other sequence is random, like x."
    )
    T_k = st.slider("length of the other sequence", 1, 16, 5, key="attn_cross_len")
    context = attention.toy_input(T_k, x.size(1), seed + 1)  # (T_k, C)
    att = attention_graph.cross_attention(x, context, head)
    graph = attention_graph.attention_graph(att.wei)
    left, right = st.columns([3, 2])
    with left:
        labels = dict(
            src_labels=[f"c{s}" for s in range(T_k)], dst_labels=[f"x{t}" for t in range(x.size(0))]
        )
        title = f"context sends ({T_k} keys and values), x receives ({x.size(0)} queries)"
        ui.plot(figures.graph_figure(graph, x.size(0) - 1, title=title, **labels), "attn_cross_fig")
    with right:
        shape = f"weights ({x.size(0)}×{T_k})"
        ui.plot(charts.heatmap(att.wei, shape, weights=True, axes=("s (context)", "t (x)")), "attn_cross_wei")
    same = attention_graph.matches_pytorch(att)
    st.caption(
        f"Output: one row per query, {tuple(att.out.shape)}, whatever the context's length. No mask: the "
        f"context is given in full. Same as `F.scaled_dot_product_attention` on these q, k, v: **{same}**."
    )
    ui.show_source(attention_graph.cross_attention)


def batch_section(x: torch.Tensor, seed: int, title: str) -> None:
    st.header(title)
    st.markdown(
        "Training feeds B sequences at once, but each is processed **on its own**: every matrix multiply "
        "in the model carries B along as a batch dimension. Below, the GPT's own `CausalSelfAttention` "
        "(untrained) runs on a batch; replace one row and see which outputs move."
    )
    T, C = x.shape
    left, right = st.columns(2)
    B = left.slider("batch size B", 2, 8, 4, key="attn_batch_B")
    row = right.slider("replace row", 0, B - 1, min(1, B - 1), key="attn_batch_row")
    batch = torch.stack([x] + [attention.toy_input(T, C, seed + 100 + b) for b in range(1, B)])  # (B, T, C)
    demo = attention_graph.batch_rows(batch, row, n_head=1, seed=seed)
    ui.plot(figures.row_change_figure(demo), "attn_batch_fig")
    untouched = all(d == 0 for b, d in enumerate(demo.row_diff) if b != row)
    st.caption(
        f"Every other row's output is **bit for bit the same**: {untouched}. (A BatchNorm layer would break "
        "this — it averages over the batch — which is one reason Transformers use LayerNorm, per token.)"
    )
    ui.show_source(CausalSelfAttention.forward, attention_graph.batch_rows)
