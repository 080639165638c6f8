"""Figures for the attention lesson's notes (lessons/attention_extras.py): one head as a directed
graph, senders on top and receivers below, and how much each batch row's output moved. Every number
comes from `course.attention_graph`; no Streamlit calls. One `go.Figure(data=..., layout=...)` each."""

from __future__ import annotations

import plotly.graph_objects as go

from course.attention_graph import AttentionGraph, BatchDemo
from course.figures.attention import ORANGE

EDGE = "#94a3b8"
NODE = "#1f2937"
# Edges are drawn in a few bands of weight (one trace each, not one per edge): (upper bound, width, opacity)
BANDS = ((0.05, 0.6, 0.25), (0.15, 1.5, 0.4), (0.3, 3.0, 0.55), (0.6, 5.0, 0.7), (1.01, 8.0, 0.85))
TOP, BOTTOM = 1.0, 0.0


def _xs(n: int, width: int) -> list[float]:
    """n node positions, centred in a row `width` slots wide."""
    offset = (width - n) / 2
    return [offset + i for i in range(n)]


def graph_figure(
    graph: AttentionGraph, follow: int | None, *, src_labels, dst_labels, title: str
) -> go.Figure:
    """Senders (keys and values) on the top row, receivers (queries) on the bottom row, an edge for
    every pair the mask allows, thicker the more weight it carries. The edges into receiver `follow`
    are orange, and its weights are printed over the senders."""
    width = max(graph.n_src, graph.n_dst)
    sx, dx = _xs(graph.n_src, width), _xs(graph.n_dst, width)
    data, low = [], 0.0
    for high, line_width, opacity in BANDS:
        xs, ys = [], []
        for e in graph.edges:
            if low <= e.weight < high and e.dst != follow:
                xs += [sx[e.src], dx[e.dst], None]
                ys += [TOP, BOTTOM, None]
        data.append(_lines(xs, ys, EDGE, line_width, opacity))
        low = high
    chosen = graph.into(follow) if follow is not None else ()
    for e in chosen:
        data.append(_lines([sx[e.src], dx[e.dst]], [TOP, BOTTOM], ORANGE, 1 + 9 * e.weight, 0.9))
    data.append(_nodes(sx, TOP, src_labels))
    data.append(_nodes(dx, BOTTOM, dst_labels, highlight=follow))
    if chosen:  # what each sender contributes to the followed receiver, printed above it
        data.append(
            go.Scatter(
                x=[sx[e.src] for e in chosen],
                y=[TOP + 0.2] * len(chosen),
                mode="text",
                text=[f"{e.weight:.2f}".lstrip("0") for e in chosen],
                textfont=dict(color=ORANGE, size=11),
                hoverinfo="skip",
            )
        )
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        height=300,
        showlegend=False,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(visible=False, range=[-0.8, width - 0.2]),
        yaxis=dict(
            range=[-0.35, 1.4],
            tickvals=[BOTTOM, TOP],
            ticktext=["receives<br>(query)", "sends<br>(key, value)"],
            showgrid=False,
            zeroline=False,
        ),
    )
    return go.Figure(data=data, layout=layout)


def _lines(xs, ys, color: str, width: float, opacity: float) -> go.Scatter:
    return go.Scatter(
        x=xs, y=ys, mode="lines", line=dict(color=color, width=width), opacity=opacity, hoverinfo="skip"
    )


def _nodes(xs, y: float, labels, highlight: int | None = None) -> go.Scatter:
    colors = [ORANGE if i == highlight else NODE for i in range(len(xs))]
    return go.Scatter(
        x=xs,
        y=[y] * len(xs),
        mode="markers+text",
        marker=dict(size=26, color=colors, line=dict(color="white", width=1)),
        text=[f"<b>{label}</b>" for label in labels],
        textfont=dict(color="white", size=11),
        hoverinfo="skip",
    )


def row_change_figure(demo: BatchDemo) -> go.Figure:
    """One bar per batch row: the largest change of its output when only row `demo.row` was replaced."""
    rows = list(range(len(demo.row_diff)))
    bars = go.Bar(
        x=rows,
        y=list(demo.row_diff),
        marker_color=[ORANGE if b == demo.row else EDGE for b in rows],
        text=[f"{d:.3g}" if d else "0 exactly" for d in demo.row_diff],
        textposition="outside",
    )
    return go.Figure(
        data=[bars],
        layout=dict(
            title=dict(
                text=f"How far each row's output moved when row {demo.row} changed", font=dict(size=14)
            ),
            height=300,
            margin=dict(l=10, r=10, t=50, b=10),
            xaxis=dict(title="batch row b", tickvals=rows),
            yaxis=dict(title="largest |change| in the row's output", rangemode="tozero"),
        ),
    )
