"""Two pieces of a block that the lecture builds by hand, for the "inside the trained model" lesson:
LayerNorm against BatchNorm (one tensor (T, C) normalised both ways, then the spread of each row and
of each column) and dropout on one head's attention weights. Numbers from `course.norms` and
`course.inside`; figures only, no Streamlit calls."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course import norms

LAYER, BATCH, INK = "#c2410c", "#2563eb", "#8a8173"  # the lesson's orange, a blue, its grey


def rows_vs_columns_figure(x: torch.Tensor, labels) -> go.Figure:
    """x (T, C) after LayerNorm and after BatchNorm (statistics over these T positions): the spread of
    each row (a token, left) and of each column (a channel, right). LayerNorm makes every row's 1,
    BatchNorm every column's."""
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.5, 0.5],
        subplot_titles=("Spread of each row: one token", "Spread of each column: one channel"),
    )
    for name, out, color in (
        ("LayerNorm (each row)", norms.layer_norm(x), LAYER),
        ("BatchNorm (each column)", norms.batch_norm(x), BATCH),
    ):
        rows, columns = (s.detach().float().cpu().numpy() for s in norms.spreads(out))
        line = dict(color=color, width=1)
        fig.add_scatter(
            x=list(labels), y=rows, name=name, legendgroup=name, mode="lines+markers", line=line, row=1, col=1
        )
        fig.add_scatter(
            y=columns, name=name, legendgroup=name, showlegend=False, mode="lines", line=line, row=1, col=2
        )
    fig.update_xaxes(type="category", tickangle=-90, row=1, col=1)
    fig.update_xaxes(title="channel", row=1, col=2)
    fig.update_yaxes(title="std after normalising", rangemode="tozero", row=1, col=1)
    fig.update_layout(
        title=dict(text="LayerNorm normalises rows, BatchNorm columns", font=dict(size=14)),
        height=360,
        margin=dict(l=10, r=10, t=70, b=10),
        legend=dict(orientation="h", y=1.18, x=1, xanchor="right"),
    )
    return fig


def dropped_weights_figure(weights: torch.Tensor, dropped: torch.Tensor, labels, p: float) -> go.Figure:
    """One query's attention weights (Tk,) in eval mode and after dropout p, as bars per key."""
    keys = list(labels)[: weights.numel()]
    fig = go.Figure()
    for name, w, color in (("eval: sums to 1", weights, INK), (f"train, p = {p:g}", dropped, LAYER)):
        fig.add_bar(x=keys, y=w.detach().float().cpu().numpy(), name=name, marker_color=color)
    fig.update_layout(
        title=dict(text="One query's attention weights, before and after dropout", font=dict(size=14)),
        height=320,
        margin=dict(l=10, r=10, t=60, b=10),
        barmode="group",
        xaxis=dict(type="category", tickangle=-90, title="key"),
        yaxis=dict(title="weight"),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
    )
    return fig
