"""Figures for the generation lesson (lessons/6_generate.py): a checkpoint's loss while it trained,
and one sampling step's distribution, the model's own next to the one temperature and top-k leave."""

from __future__ import annotations

import plotly.graph_objects as go

ORANGE, PALE, GREY, INK = "#c2410c", "#f2b48c", "#d9d2c5", "#8a8173"


def loss_history_figure(history: list[dict]) -> go.Figure:
    """Train and val loss at each evaluation recorded in a checkpoint's summary."""
    mode = "lines+markers" if len(history) < 30 else "lines"
    steps = [row["step"] for row in history]
    lines = [
        go.Scatter(
            x=steps,
            y=[row[f"{split}_loss"] for row in history],
            name=f"{split}_loss",
            mode=mode,
            line_color=color,
            marker_size=5,
        )
        for split, color in (("train", INK), ("val", ORANGE))
    ]
    layout = go.Layout(
        title="Loss while training",
        height=200,
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(orientation="h", y=1.2, x=1, xanchor="right"),
        xaxis_title="step",
    )
    return go.Figure(lines, layout)


def step_figure(rows: list[dict], temperature: float, top_k) -> go.Figure:
    """Grouped bars per candidate character (rows from `course.generation.top_candidates`): the
    model's probability at temperature 1, and the one it was drawn from, the sampled one marked."""
    labels = [r["label"] for r in rows]
    bars = [
        go.Bar(x=labels, y=[r["p_model"] for r in rows], name="the model (temperature 1)", marker_color=GREY),
        go.Bar(
            x=labels,
            y=[r["p_shaped"] for r in rows],
            name=f"drawn from (temperature {temperature:g}, top-k {top_k})",
            marker_color=[ORANGE if r["sampled"] else PALE for r in rows],
        ),
    ]
    pick = next(r for r in rows if r["sampled"])
    layout = go.Layout(
        barmode="group",
        height=330,
        margin=dict(l=0, r=0, t=30, b=0),
        xaxis=dict(type="category", title="next character"),
        yaxis=dict(tickformat=".1~%", title="probability"),
        legend=dict(orientation="h", y=1.12),
        annotations=[dict(x=pick["label"], y=max(pick["p_model"], pick["p_shaped"]), text="sampled", ay=-28)],
    )
    return go.Figure(bars, layout)
