"""Figures for the "inside the trained model" lesson (lessons/5_inside.py): embeddings in 2-D, the
architecture as a Graphviz diagram, one stage's tensor, LayerNorm statistics, one head's scores
and weights, the residual stream's norm, MLP units, next-character bars and the logit lens.
Figures only, no Streamlit calls; every number comes from one traced pass (`course.inside`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from course.inside import LayerTrace, Trace
from course.inside_views import KINDS, STAGES, EmbeddingMap, Lens, stream_names, token_stats
from tinygpt.gpt import GPTConfig

ORANGE, PALE, GREY, INK = "#c2410c", "#f2b48c", "#d9d2c5", "#8a8173"
KIND_COLORS = dict(
    zip(KINDS, ("#c2410c", "#2563eb", "#7c3aed", "#059669", "#a16207", "#64748b"), strict=True)
)
MARGIN = dict(l=10, r=10, t=40, b=10)
WEIGHTS = [[0.0, "#fffdf8"], [0.25, "#fdba74"], [1.0, "#9a3412"]]  # as the attention lesson's heatmaps


def as_array(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def titled_layout(title: str, height: int, **more) -> dict:
    return dict(title=dict(text=title, font=dict(size=14)), height=height, margin=MARGIN, **more)


def embedding_figure(em: EmbeddingMap) -> go.Figure:
    """Each character at its embedding's first two principal components, coloured by kind."""
    xy, labels = as_array(em.points), [repr(c)[1:-1] if c.isspace() else c for c in em.chars]
    data = []
    for kind in KINDS:
        rows = [i for i, k in enumerate(em.kinds) if k == kind]
        if rows:
            data.append(
                go.Scatter(
                    x=xy[rows, 0],
                    y=xy[rows, 1],
                    mode="markers+text",
                    name=kind,
                    text=[labels[i] for i in rows],
                    textposition="top center",
                    marker=dict(color=KIND_COLORS[kind], size=7),
                    hovertemplate="%{text}<extra>" + kind + "</extra>",
                )
            )
    pc1, pc2 = em.explained
    layout = titled_layout(
        "Character embeddings (wte), first two principal components",
        460,
        xaxis=dict(title=f"PC 1 ({pc1:.0%} of the variance)", zeroline=False),
        yaxis=dict(title=f"PC 2 ({pc2:.0%})", zeroline=False),
        legend=dict(orientation="h", y=-0.15),
    )
    return go.Figure(data, layout)


def similarity_figure(sim) -> go.Figure:
    """The position embeddings' cosine similarity, position against position."""
    z = as_array(sim)
    heat = go.Heatmap(
        z=z,
        zmin=-1,
        zmax=1,
        zmid=0,
        colorscale="RdBu_r",
        hovertemplate="positions %{y} and %{x}: %{z:.2f}<extra></extra>",
    )
    layout = titled_layout(
        "Position embeddings (wpe): cosine similarity",
        460,
        xaxis=dict(title="position", showgrid=False),
        yaxis=dict(title="position", autorange="reversed", showgrid=False, scaleanchor="x"),
    )
    return go.Figure(heat, layout)


def architecture_dot(config: GPTConfig, stage: str, layer: int) -> str:
    """The GPT as a Graphviz diagram (DOT source), bottom to top; `stage` is filled orange. Pieces the
    config switched off are drawn dashed (an Identity) or left out."""

    def node(name: str, label: str, shape="box", off=False) -> str:
        style = "filled,dashed" if off else "filled,rounded" if shape == "box" else "filled"
        fill = ORANGE if name == stage else "#fff7ed" if name in STAGES else "#f5f5f4"
        font = "white" if name == stage else "#292524"
        return f'{name} [label="{label}", shape={shape}, style="{style}", fillcolor="{fill}", fontcolor="{font}"];'

    name = "RMSNorm" if getattr(config, "norm", "layernorm") == "rmsnorm" else "LayerNorm"
    norm = name if config.layer_norm else f"{name}: off"

    def residual_branch(
        src: str, ln: str, inner: str, inner_label: str, proj: str, proj_label: str, add: str
    ):
        """src -> LayerNorm -> inner -> projection -> (+), with the residual path beside it."""
        off = "" if config.proj else " (off)"
        lines = [
            node(ln, f"{norm} {ln}", off=not config.layer_norm),
            node(inner, inner_label),
            node(proj, f"{proj_label}{off}", off=not config.proj),
            node(add, "+" if config.residual else "→", "circle"),
            f"{src} -> {ln} -> {inner} -> {proj} -> {add};",
        ]
        if config.residual:
            lines.append(f'{src} -> {add} [style=dashed, label=" residual", fontsize=9];')
        return lines

    lines = [
        "digraph G { rankdir=BT; bgcolor=transparent; nodesep=0.25; ranksep=0.22;",
        'node [fontname="sans-serif", fontsize=11, height=0.3]; edge [color="#78716c", arrowsize=0.6];',
        node("idx", "idx (characters)", "plaintext"),
        node("tok_emb", "token embedding wte"),
        node("x0", "+" if config.pos_emb else "dropout", "circle"),
        "idx -> tok_emb -> x0;",
    ]
    if config.pos_emb:
        lines += [node("pos_emb", "position embedding wpe"), "idx -> pos_emb -> x0;"]
    lines.append(
        f'subgraph cluster_block {{ label="block {layer} of {config.n_layer}"; style="rounded,dashed"; color="#a8a29e";'
    )
    heads = f"{config.n_head} attention heads"
    lines += residual_branch("x0", "ln_1", "heads", heads, "attn_out", "projection c_proj", "resid_mid")
    if config.mlp:
        mlp = f"MLP: c_fc + {config.activation.upper()}"
        lines += residual_branch("resid_mid", "ln_2", "hidden", mlp, "mlp_out", "MLP: c_proj", "resid_out")
    lines += [
        "}",
        node("ln_f", f"final {norm} ln_f", off=not config.layer_norm),
        node("logits", "lm_head → logits"),
        node("softmax", "softmax → next character", "plaintext"),
        f"{'resid_out' if config.mlp else 'resid_mid'} -> ln_f -> logits -> softmax;",
        "}",
    ]
    return "\n".join(lines)


def tensor_figure(x, labels, position: int | None, title: str, height: int = 380) -> go.Figure:
    """A (T, width) tensor as a heatmap, one row per position; `position`'s row outlined."""
    z = as_array(x)
    heat = go.Heatmap(
        z=z,
        y=list(labels),
        zmid=0,
        colorscale="RdBu_r",
        colorbar=dict(thickness=10),
        hovertemplate="%{y}, channel %{x}: %{z:.3f}<extra></extra>",
    )
    shapes = []
    if position is not None:
        box = dict(type="rect", x0=-0.5, x1=z.shape[1] - 0.5, y0=position - 0.5, y1=position + 0.5)
        shapes.append(box | dict(line=dict(color=ORANGE, width=2), yref="y", xref="x"))
    layout = titled_layout(
        title,
        height,
        xaxis=dict(title="channel", showgrid=False),
        yaxis=dict(type="category", autorange="reversed", showgrid=False, dtick=max(1, len(labels) // 16)),
        shapes=shapes,
    )
    return go.Figure(heat, layout)


def layernorm_figure(before, after, labels, position: int) -> go.Figure:
    """Each token's spread (std over channels, top) and mean (bottom) in `before` and `after` (T, C):
    the input and output of a LayerNorm. `position` is drawn larger."""
    data = []
    sizes = [11 if i == position else 6 for i in range(len(labels))]
    for name, x, color in (("before", before, INK), ("after", after, ORANGE)):
        mean, std = map(as_array, token_stats(x))
        for y, axis in ((std, "y2"), (mean, "y")):
            data.append(
                go.Scatter(
                    x=list(labels),
                    y=y,
                    name=name,
                    legendgroup=name,
                    showlegend=axis == "y2",
                    mode="lines+markers",
                    line=dict(color=color, width=1),
                    marker=dict(color=color, size=sizes),
                    yaxis=axis,
                    hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
                )
            )
    layout = titled_layout(
        "Each token's spread and mean over its channels, before and after LayerNorm",
        380,
        xaxis=dict(type="category", tickangle=-90),
        yaxis=dict(domain=[0, 0.4], title="mean"),
        yaxis2=dict(domain=[0.5, 1], title="spread (std)", rangemode="tozero"),
        legend=dict(orientation="h", y=1.1, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)


def attention_figure(layer: LayerTrace, head: int, position: int, labels) -> go.Figure:
    """One query's row for one head in three steps: q·k·scale for every key, the future masked to
    −∞ (grey), and the softmax weights."""
    s, w = as_array(layer.scores[head, position]), as_array(layer.weights[head, position])
    keys = list(labels)
    future = np.arange(len(s)) > position
    past_s = np.where(future, np.nan, s)
    factor = "" if layer.scale == 1 else f" × {layer.scale:.3g}"
    data = [
        go.Bar(x=keys, y=s, marker_color=np.where(future, GREY, INK).tolist(), xaxis="x", yaxis="y3"),
        go.Bar(x=keys, y=past_s, marker_color=INK, xaxis="x", yaxis="y2"),
        go.Bar(x=keys, y=w, marker_color=ORANGE, xaxis="x", yaxis="y"),
    ]
    if future.any():
        masked = [k for k, f in zip(keys, future, strict=True) if f]
        data.append(
            go.Scatter(
                x=masked,
                y=[0] * len(masked),
                mode="text",
                text=["−∞"] * len(masked),
                textfont=dict(color=INK, size=9),
                xaxis="x",
                yaxis="y2",
            )
        )
    layout = titled_layout(
        f"Query {keys[position]}: scores → mask → softmax",
        480,
        showlegend=False,
        xaxis=dict(type="category", tickangle=-90, title="key (the character attended to)"),
        yaxis=dict(domain=[0, 0.28], title="softmax", range=[0, max(1e-6, float(w.max())) * 1.1]),
        yaxis2=dict(domain=[0.36, 0.64], title="masked"),
        yaxis3=dict(domain=[0.72, 1], title=f"q·k{factor}"),
    )
    return go.Figure(data, layout)


def heads_figure(layer: LayerTrace, position: int, n_head: int) -> go.Figure:
    """One position's heads side by side (C channels, a line between heads) and the projection's output."""
    z = np.stack([as_array(layer.heads[position]), as_array(layer.attn_out[position])])
    heat = go.Heatmap(
        z=z,
        y=["heads, concatenated", "after c_proj"],
        zmid=0,
        colorscale="RdBu_r",
        colorbar=dict(thickness=10),
        hovertemplate="%{y}, channel %{x}: %{z:.3f}<extra></extra>",
    )
    hs = z.shape[1] // n_head
    shapes = [
        dict(
            type="line", x0=h * hs - 0.5, x1=h * hs - 0.5, y0=-0.5, y1=0.5, line=dict(width=2, color="black")
        )
        for h in range(1, n_head)
    ]
    layout = titled_layout(
        "The heads' outputs, then mixed by the output projection",
        200,
        xaxis=dict(title="channel", showgrid=False),
        yaxis=dict(autorange="reversed"),
        shapes=shapes,
    )
    return go.Figure(heat, layout)


def stream_figure(t: Trace, labels, position: int) -> go.Figure:
    """The residual stream's length ‖x‖ at each point it changes: every position in grey, `position` in orange."""
    n, names = as_array(torch.stack([x.norm(dim=-1) for x in t.streams])), stream_names(t)  # (points, T)
    points = np.arange(len(names), dtype=float)
    # every position as one line, separated by NaN gaps: one trace instead of T
    xs = np.tile(np.append(points, np.nan), n.shape[1])
    ys = np.vstack([n, np.full((1, n.shape[1]), np.nan)]).T.ravel()
    data = [
        go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=GREY, width=1), name="every position"),
        go.Scatter(
            x=points,
            y=n[:, position],
            mode="lines+markers",
            line=dict(color=ORANGE, width=3),
            name=labels[position],
        ),
    ]
    layout = titled_layout(
        "The residual stream's norm ‖x‖, layer by layer",
        320,
        xaxis=dict(tickmode="array", tickvals=points, ticktext=names),
        yaxis=dict(title="‖x‖", rangemode="tozero"),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)


def hidden_figure(hidden, activation: str) -> go.Figure:
    """A histogram of one position's MLP hidden units after the activation; positive ones in orange."""
    h = as_array(hidden)
    data = [
        go.Histogram(x=h[h <= 0], marker_color=GREY, name="silent (≤ 0)", xbins=dict(size=0.05)),
        go.Histogram(x=h[h > 0], marker_color=ORANGE, name="firing (> 0)", xbins=dict(size=0.05)),
    ]
    layout = titled_layout(
        f"{len(h)} hidden units after {activation.upper()}",
        300,
        barmode="overlay",
        xaxis=dict(title="activation"),
        yaxis=dict(title="units", type="log", dtick=1),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
    )
    return go.Figure(data, layout)


def top_figure(rows: list[dict], title: str, height: int = 300) -> go.Figure:
    """Bars of the likeliest next characters (rows from `course.inside_views.top_next`)."""
    bars = go.Bar(
        x=[r["label"] for r in rows],
        y=[r["p"] for r in rows],
        marker_color=ORANGE,
        text=[f"{r['p']:.0%}" for r in rows],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{x}: %{y:.2%}<extra></extra>",
    )
    top = max((r["p"] for r in rows), default=1)
    layout = titled_layout(
        title,
        height,
        xaxis=dict(type="category", title="next character"),
        yaxis=dict(tickformat=".0%", range=[0, top * 1.2 + 1e-6]),
    )
    return go.Figure(bars, layout)


def lens_figure(lens: Lens, labels) -> go.Figure:
    """The logit lens: for each block (row) and position (column) the likeliest next character,
    coloured by its probability; hovering shows the top three."""
    heat = go.Heatmap(
        z=as_array(lens.p),
        x=list(labels),
        y=list(lens.rows),
        text=lens.top,
        texttemplate="%{text}",
        textfont=dict(size=11),
        customdata=lens.hover,
        zmin=0,
        zmax=1,
        colorscale=WEIGHTS,
        xgap=1,
        ygap=1,
        colorbar=dict(thickness=10, title="p"),
        hovertemplate="%{y}, reading %{x}<br>%{customdata}<extra></extra>",
    )
    layout = titled_layout(
        "The logit lens: the next character each layer would guess",
        90 + 42 * len(lens.rows),
        xaxis=dict(type="category", tickangle=-90, title=None),
        yaxis=dict(autorange="reversed"),
    )
    return go.Figure(heat, layout)


def dropout_figure(
    x, labels, position: int, channels: int = 64, title: str = "x after dropout (black: zeroed)"
) -> go.Figure:
    """The first `channels` channels of x (T, C) after dropout; the numbers dropout zeroed in black."""
    z = as_array(x)[:, :channels]
    dropped = z == 0
    data = [
        go.Heatmap(
            z=z,
            y=list(labels),
            zmid=0,
            colorscale="RdBu_r",
            showscale=False,
            hovertemplate="%{y}, channel %{x}: %{z:.3f}<extra></extra>",
        )
    ]
    if dropped.any():
        data.append(
            go.Heatmap(
                z=np.where(dropped, 0.0, np.nan),
                y=list(labels),
                colorscale=[[0, "black"], [1, "black"]],
                showscale=False,
                hovertemplate="%{y}, channel %{x}: dropped<extra></extra>",
            )
        )
    layout = titled_layout(
        title,
        320,
        xaxis=dict(title=f"channel (the first {z.shape[1]})", showgrid=False),
        yaxis=dict(type="category", autorange="reversed", showgrid=False, dtick=max(1, len(labels) // 16)),
        shapes=[
            dict(type="rect", x0=-0.5, x1=z.shape[1] - 0.5, y0=position - 0.5, y1=position + 0.5)
            | dict(line=dict(color=ORANGE, width=2))
        ],
    )
    return go.Figure(data, layout)
