"""Plotly figures for the attention lesson (lessons/2_attention.py): matrices as heatmaps, the
"why scale" variance curve and the softmax-temperature bars. Figures only, no Streamlit calls;
every number drawn comes from `course.attention`.

Each figure is built with one `go.Figure(data=..., layout=...)` call: plotly validates every later
`update_layout` again, and the page draws about twenty figures per rerun.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

WEIGHTS = [[0.0, "#fffdf8"], [0.25, "#fdba74"], [1.0, "#9a3412"]]  # cream -> the theme's orange
MASKED = "#e5e1d8"
ORANGE = "#c2410c"
TOKENS = ("s (attended to)", "t (token)")
CHANNELS = ("channel", "t (token)")
MAX_TEXT = 8  # print numbers in cells only up to this many rows and columns


def cell_text(z: np.ndarray, weights: bool) -> list[list[str]]:
    """Numbers to print in small heatmaps: weights as '.33' (blank when 0), other values as '-1.2';
    NaN (a masked cell) prints nothing."""
    return [[_weight_text(v) if weights else "" if v != v else f"{v:.1f}" for v in row] for row in z]


def _weight_text(v: float) -> str:
    if v != v or v == 0:
        return ""
    text = f"{v:.2f}"
    return "1" if text == "1.00" else text.lstrip("0")


def heatmap(z, title: str, *, weights=False, labels=None, axes=TOKENS, height=270, dividers=()) -> go.Figure:
    """Matrix `z` (rows, cols) with row 0 on top. `weights`: a 0..1 orange scale, else blue-red around 0.
    -inf cells are grey and read '−∞'; `labels` name rows and columns; `dividers` are column indices
    before which a vertical line is drawn."""
    z = np.asarray(z, dtype=float)
    masked = np.isneginf(z)
    z = np.where(masked, np.nan, z)
    small = max(z.shape) <= MAX_TEXT
    trace = dict(z=z, xgap=1, ygap=1, showscale=False, hoverongaps=False)
    trace |= dict(zmin=0, zmax=1, colorscale=WEIGHTS) if weights else dict(zmid=0, colorscale="RdBu_r")
    if labels is not None:
        trace |= dict(
            x=list(labels), y=list(labels), hovertemplate="t=%{y}<br>s=%{x}<br>%{z:.3f}<extra></extra>"
        )
    elif small:
        trace |= dict(text=cell_text(z, weights), texttemplate="%{text}", textfont=dict(size=10))
    traces = [go.Heatmap(**trace)]
    if masked.any():  # the -inf cells, drawn as a grey layer on top
        traces.append(
            go.Heatmap(
                z=np.where(masked, 0.0, np.nan),
                xgap=1,
                ygap=1,
                showscale=False,
                hoverinfo="skip",
                colorscale=[[0, MASKED], [1, MASKED]],
                text=np.where(masked, "−∞", ""),
                texttemplate="%{text}" if small else "",
                textfont=dict(size=10, color="#6b7280"),
            )
        )
    category = "category" if labels is not None else None
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title=axes[0], type=category, tickangle=-90 if category else 0, showgrid=False),
        yaxis=dict(title=axes[1], type=category, autorange="reversed", showgrid=False),
        shapes=[
            dict(type="line", x0=d - 0.5, x1=d - 0.5, y0=-0.5, y1=z.shape[0] - 0.5, line=dict(width=3))
            for d in dividers
        ],
    )
    return go.Figure(data=traces, layout=layout)


def variance_figure(stats, head_size: int) -> go.Figure:
    """var(q·k) and var(q·k/√hs) against head size (log-log), with the current head size marked."""
    lines = [
        go.Scatter(x=stats.head_sizes, y=stats.var_unscaled, name="var(q·k)", line_color="#64748b"),
        go.Scatter(x=stats.head_sizes, y=stats.var_scaled, name="var(q·k / √head_size)", line_color=ORANGE),
    ]
    marker = dict(type="line", x0=head_size, x1=head_size, yref="paper", y0=0, y1=1, line=dict(dash="dot"))
    note = dict(
        x=np.log10(head_size),
        yref="paper",
        y=1,
        text=f"head size {head_size}",
        showarrow=False,
        yanchor="bottom",
    )
    return go.Figure(
        data=lines,
        layout=dict(
            title="Variance of one score (q, k unit Gaussian)",
            height=340,
            margin=dict(l=10, r=10, t=60, b=10),
            xaxis=dict(type="log", title="head size", tickvals=list(stats.head_sizes)),
            yaxis=dict(type="log", title="variance", dtick=1),
            legend=dict(orientation="h", y=-0.25),
            shapes=[marker],
            annotations=[note],
        ),
    )


def temperature_figure(scores, probs, temperature: float) -> go.Figure:
    """Bars of softmax(scores / temperature), one per score, on a fixed 0..1 axis."""
    positions = list(range(len(scores)))
    bars = go.Bar(x=positions, y=np.asarray(probs), marker_color=ORANGE, texttemplate="%{y:.2f}")
    return go.Figure(
        data=[bars],
        layout=dict(
            title=f"softmax(scores / {temperature:g}): largest weight {float(max(probs)):.2f}",
            height=300,
            margin=dict(l=10, r=10, t=50, b=10),
            yaxis=dict(range=[0, 1.05], title="weight"),
            xaxis=dict(title="score", tickvals=positions, ticktext=[f"{s:+.1f}" for s in scores]),
        ),
    )
