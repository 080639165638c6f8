"""Figures for the "which part does what" lesson (lessons/8_interventions.py): the head map, the
whole parts switched off, one head's attention, the next character with and without a head, the
patch map, the induction scores and a repeated name. Figures only; the numbers come from
`course.interventions` and `course.induction`."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from course.figures.inside import GREY, INK, ORANGE, WEIGHTS, as_array, titled_layout
from course.induction import Induction, NameCopy
from course.interventions import STAGES, Ablations, Site
from course.interventions_views import row_label
from course.patching import PatchMap
from course.text import char_label

BLUE = "#2563eb"
DIVERGING = "RdBu_r"  # red: the part mattered (the loss rose, the patch restored); blue: the opposite


def _outline(layer: int, head: int) -> dict:
    """A rectangle around one cell of a layers × heads heatmap."""
    return dict(
        type="rect",
        x0=head - 0.5,
        x1=head + 0.5,
        y0=layer - 0.5,
        y1=layer + 0.5,
        line=dict(color=INK, width=3),
    )


def head_map_figure(ab: Ablations, n_layer: int, n_head: int, selected: Site | None = None) -> go.Figure:
    """Layers × heads, each cell the rise in validation loss when that head is switched off. A
    transparent marker sits on each cell (trace 1, point layer * n_head + head): plotly selects
    points but not heatmap cells, so the page knows which head a click chose."""
    z = as_array(ab.grid(n_layer, n_head))
    top = max(float(np.nanmax(np.abs(z))), 1e-6)
    x, y = [f"head {h}" for h in range(n_head)], [f"block {i}" for i in range(n_layer)]
    heat = go.Heatmap(
        z=z,
        x=x,
        y=y,
        zmid=0,
        zmin=-top,
        zmax=top,
        colorscale=DIVERGING,
        text=[[f"{v:+.3f}" for v in row] for row in z],
        texttemplate="%{text}",
        xgap=2,
        ygap=2,
        colorbar=dict(thickness=10, title="loss +"),
        hoverinfo="skip",  # the markers hover instead
    )
    cells = go.Scatter(
        x=[h for _ in y for h in x],
        y=[i for i in y for _ in x],
        customdata=z.flatten(),
        mode="markers",
        marker=dict(symbol="square", size=40, color="rgba(0,0,0,0)"),
        showlegend=False,
        hovertemplate="%{y}, %{x}: the loss rises by %{customdata:.4f}; click to choose<extra></extra>",
    )
    layout = titled_layout(
        f"Validation loss {ab.clean:.3f}: how much it rises without each head ({ab.mode} ablation)",
        120 + 60 * n_layer,
        yaxis=dict(autorange="reversed"),
        shapes=[_outline(selected.layer, selected.head)] if selected is not None else [],
    )
    return go.Figure([heat, cells], layout)


def parts_figure(ab: Ablations, n_layer: int) -> go.Figure:
    """Each block's whole attention and MLP switched off, one at a time: the loss's rise."""
    blocks = [f"block {i}" for i in range(n_layer)]
    data = []
    for stage, name, color in (("attn", "attention", ORANGE), ("mlp", "MLP", BLUE)):
        rises = [ab.rise.get(Site(stage, i)) for i in range(n_layer)]
        if any(r is not None for r in rises):
            data.append(
                go.Bar(
                    x=blocks,
                    y=rises,
                    name=name,
                    marker_color=color,
                    texttemplate="%{y:+.2f}",
                    textposition="outside",
                    cliponaxis=False,
                )
            )
    layout = titled_layout(
        "Without a whole attention layer or MLP",
        300,
        barmode="group",
        yaxis=dict(title="loss +"),
        legend=dict(orientation="h", y=1.15, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)


def attention_figure(weights, labels, title: str) -> go.Figure:
    """One head's attention weights on the prompt: queries down, keys across."""
    heat = go.Heatmap(
        z=as_array(weights),
        x=list(labels),
        y=list(labels),
        zmin=0,
        zmax=1,
        colorscale=WEIGHTS,
        colorbar=dict(thickness=10, title="weight"),
        hovertemplate="query %{y} → key %{x}: %{z:.2f}<extra></extra>",
    )
    layout = titled_layout(
        title,
        460,
        xaxis=dict(type="category", tickangle=-90, title="key (attended to)", showgrid=False),
        yaxis=dict(type="category", autorange="reversed", title="query", showgrid=False),
    )
    return go.Figure(heat, layout)


def next_figure(rows: list[dict], site: Site, title: str) -> go.Figure:
    """The likeliest next characters with the model whole and with `site` switched off."""
    x = [r["label"] for r in rows]
    data = [
        go.Bar(x=x, y=[r["clean"] for r in rows], name="whole model", marker_color=ORANGE),
        go.Bar(x=x, y=[r["ablated"] for r in rows], name=f"without {site}", marker_color=GREY),
    ]
    layout = titled_layout(
        title,
        320,
        barmode="group",
        xaxis=dict(type="category", title="next character"),
        yaxis=dict(tickformat=".0%"),
        legend=dict(orientation="h", y=1.15, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)


def patch_figure(pm: PatchMap, labels) -> go.Figure:
    """Rows (where the stage was patched) × positions: the share of the difference restored."""
    z = as_array(pm.restored)
    rows = [row_label(site) for site in pm.rows]
    heat = go.Heatmap(
        z=z,
        x=list(labels),
        y=rows,
        zmid=0,
        zmin=-1,
        zmax=1,
        colorscale=DIVERGING,
        xgap=1,
        ygap=1,
        colorbar=dict(thickness=10, title="restored", tickformat=".0%"),
        hovertemplate="patching %{y} at %{x}: %{z:.1%} restored<extra></extra>",
    )
    layout = titled_layout(
        f"Patching {STAGES[pm.stage]}: how much of the difference each patch restores",
        120 + 40 * len(rows),
        xaxis=dict(type="category", tickangle=-90, title=None),
        yaxis=dict(autorange="reversed"),
    )
    return go.Figure(heat, layout)


def induction_figure(ind: Induction, cut: float) -> go.Figure:
    """Layers × heads: attention from the second copy to the token after the earlier copy; hover
    adds how much the second copy's loss rises without the head."""
    z, rise = as_array(ind.scores), as_array(ind.loss_rise)
    n_layer, n_head = z.shape
    heat = go.Heatmap(
        z=z,
        x=[f"head {h}" for h in range(n_head)],
        y=[f"block {i}" for i in range(n_layer)],
        zmin=0,
        zmax=1,
        colorscale=WEIGHTS,
        text=[[f"{v:.1%}" for v in row] for row in z],
        texttemplate="%{text}",
        customdata=rise,
        xgap=2,
        ygap=2,
        colorbar=dict(thickness=10, title="score"),
        hovertemplate="%{y}, %{x}: %{z:.1%}; without it the second copy's loss %{customdata:+.3f}<extra></extra>",
    )
    layout = titled_layout(
        f"Induction score per head (an induction head: ≥ {cut:.0%}; even attention: {ind.baseline:.1%})",
        120 + 60 * n_layer,
        yaxis=dict(autorange="reversed"),
    )
    return go.Figure(heat, layout)


def copy_figure(nc: NameCopy) -> go.Figure:
    """p of each of the name's characters (after the first): where it first appears, where it
    appears again, and there without the head."""
    x = [f"{i + 1}:{char_label(ch)}" for i, ch in enumerate(nc.chars)]
    data = [
        go.Bar(x=x, y=as_array(nc.first), name="first time", marker_color=GREY),
        go.Bar(x=x, y=as_array(nc.second), name="second time", marker_color=ORANGE),
        go.Bar(x=x, y=as_array(nc.second_without), name=f"second, without {nc.head}", marker_color=BLUE),
    ]
    layout = titled_layout(
        "Each character of the name, predicted",
        320,
        barmode="group",
        xaxis=dict(type="category", title="character of the name"),
        yaxis=dict(tickformat=".0%", range=[0, 1.05]),
        legend=dict(orientation="h", y=1.15, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)
