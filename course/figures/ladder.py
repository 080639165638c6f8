"""Figures of the ladder lesson (lessons/3_transformer.py): the staircase of val losses rung by rung,
the bars of going back down, and a block diagram of any rung's model (Graphviz DOT text, drawn by
st.graphviz_chart) with what is new since the previous rung highlighted. No Streamlit calls."""

from __future__ import annotations

import plotly.graph_objects as go

from course.ladder import LECTURE_TOP_VAL, LivePoint, RungStats, Staircase, TopRung, rung_number

SHORT = {
    "bigram": "bigram",
    "head": "one head",
    "heads": "4 heads",
    "ffwd": "feed-forward",
    "blocks": "3 blocks",
    "layernorm": "LayerNorm",
    "deep": "6 blocks",
    "no-pos": "no position emb.",
    "no-scale": "no 1/√d scale",
    "no-residual": "no residuals",
    "no-layernorm": "no LayerNorm",
}
TOP = "7 · scaled up"
ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU"}
OURS, LECTURE, LIVE, NEW = "#334155", "#0f766e", "#c2410c", "#fed7aa"
LAYOUT = dict(
    height=420,
    margin=dict(l=10, r=10, t=40, b=10),
    legend=dict(orientation="h", y=-0.2),
    hovermode="x unified",
)


def label(key: str) -> str:
    """'3 · 4 heads' for a rung of the climb, the short name for the others."""
    n = rung_number(key)
    return f"{n} · {SHORT[key]}" if n else SHORT[key]


def _scatter(points, name: str, mode: str = "markers", **style) -> go.Scatter:
    """A trace through (x, y) points, leaving out those without a y."""
    points = [(x, y) for x, y in points if y is not None]
    return go.Scatter(x=[x for x, _ in points], y=[y for _, y in points], name=name, mode=mode, **style)


def _spread(stats: list[RungStats]) -> dict:
    """Error bars from the mean to the lowest and highest seed."""
    return dict(
        type="data",
        symmetric=False,
        array=[max(s.val) - s.val_mean for s in stats],
        arrayminus=[s.val_mean - min(s.val) for s in stats],
        thickness=1,
        width=4,
    )


def staircase_figure(
    stairs: Staircase, top: TopRung | None, live: list[LivePoint] = (), live_steps: int | None = None
) -> go.Figure:
    """Val loss by rung: this project's (mean over seeds, bars from the lowest to the highest), its
    train loss, the lecture's, rung 7 from the shipped model and, when given, a live climb (with the
    shipped rungs at the same number of steps when the climb is shorter)."""
    climb = stairs.climb()
    xs = [label(s.key) for s in climb]
    n = len(stairs.seeds)
    lecture = [(label(s.key), s.lecture_val) for s in climb] + [(TOP, LECTURE_TOP_VAL)]
    data = [
        _scatter(
            zip(xs, [s.val_mean for s in climb], strict=True),
            f"this project: val ({n} seed{'s' * (n > 1)})",
            "lines+markers",
            error_y=_spread(climb),
            line=dict(color=OURS, width=3, shape="hv"),
        ),
        _scatter(
            zip(xs, [s.train_mean for s in climb], strict=True),
            "this project: train",
            "lines+markers",
            line=dict(color=OURS, width=1.5, dash="dot", shape="hv"),
        ),
        _scatter(lecture, "the lecture: val", marker=dict(color=LECTURE, symbol="diamond", size=10)),
    ]
    if top is not None and top.val_loss is not None:
        name = f"shipped model: val ({top.params / 1e6:.1f}M parameters)"
        data.append(_scatter([(TOP, top.val_loss)], name, marker=dict(color=OURS, symbol="star", size=13)))
    if live_steps and live_steps != stairs.settings.get("max_steps"):
        same = [(label(s.key), s.val_at(live_steps)) for s in climb]
        line = dict(color=OURS, width=1, dash="dash", shape="hv")
        data.append(_scatter(same, f"this project at {live_steps:,} steps", "lines", line=line))
    live = [p for p in live if p.val is not None and rung_number(p.key)]
    done, training = [p for p in live if p.done], [p for p in live if not p.done]
    if done:
        line, marker = dict(color=LIVE, width=3, shape="hv"), dict(size=11)
        data.append(
            _scatter(
                [(label(p.key), p.val) for p in done],
                "your climb: val",
                "lines+markers",
                line=line,
                marker=marker,
            )
        )
    for p in training:  # the rung in training: its latest evaluation, still falling
        marker = dict(color=LIVE, size=11, symbol="circle-open", line=dict(width=2))
        data.append(
            _scatter([(label(p.key), p.val)], f"your climb: training, step {p.step:,}", marker=marker)
        )
    return go.Figure(
        data=data,
        layout=dict(
            **LAYOUT,
            title="Validation loss, rung by rung (lower is better)",
            xaxis=dict(categoryorder="array", categoryarray=[*xs, TOP], title=None),
            yaxis=dict(title="loss (nats per character)"),
        ),
    )


def descent_figure(stairs: Staircase, chosen: str, live: list[LivePoint] = ()) -> go.Figure:
    """Final val and train loss of the full 6-block model and of each version with one piece
    removed (mean over seeds, bars to the lowest and highest); `chosen` highlighted, a live run dotted."""
    keys = [k for k in SHORT if k in stairs.rungs and not rung_number(k)]
    stats = [stairs.rungs[k] for k in keys]
    xs = [label(k) for k in keys]
    colors = [LIVE if k == chosen else ("#94a3b8" if k != "deep" else OURS) for k in keys]
    data = [
        go.Bar(x=xs, y=[s.val_mean for s in stats], error_y=_spread(stats), marker_color=colors, name="val"),
        _scatter(
            zip(xs, [s.train_mean for s in stats], strict=True),
            "train",
            marker=dict(color="black", symbol="line-ew-open", size=22, line=dict(width=2)),
        ),
    ]
    live = [p for p in live if p.val is not None and p.key in keys]
    if live:
        marker = dict(color=LIVE, size=14, symbol="circle-open", line=dict(width=3))
        name = f"your run: val at step {live[-1].step:,}"
        data.append(_scatter([(label(p.key), p.val) for p in live], name, marker=marker))
    top = max(max(s.val) for s in stats)
    return go.Figure(
        data=data,
        layout=dict(
            **LAYOUT,
            title="Back down: the full model less one piece (val loss, lower is better)",
            yaxis=dict(title="loss (nats per character)", range=[1.8, max(2.6, top + 0.1)]),
            showlegend=True,
        ),
    )


# ---- block diagram --------------------------------------------------------------------------------


def _nodes(config) -> dict[str, str]:
    """The model's boxes (id -> label) from top to bottom; labels carry the sizes, so a box whose
    label changes between two rungs is new in the second."""
    V = config.vocab_size
    if not hasattr(config, "n_embd"):  # the bigram: one table
        return {"wte": f"token embedding table\\n{V} × {V}: a row of logits per character"}
    C, nh, hs = config.n_embd, config.n_head, config.head_size
    nodes = {"wte": f"token embedding\\n{V} × {C}"}
    if config.pos_emb:
        nodes |= {"wpe": f"position embedding\\n{config.block_size} × {C}", "add": "+"}
    if config.layer_norm:
        nodes["ln_1"] = "LayerNorm"
    heads = f"{nh} heads of {hs}" if nh > 1 else f"one head of {hs}"
    scale = "" if config.attn_scale else ", unscaled"
    nodes["attn"] = f"masked self-attention\\n{heads}{scale}" + ("\\n+ projection" if config.proj else "")
    if config.residual:
        nodes["res_1"] = "+"
    if config.mlp:
        if config.layer_norm:
            nodes["ln_2"] = "LayerNorm"
        hidden = config.mlp_ratio * C
        sizes = f"{C} → {hidden} → {C}" if config.proj else f"{C} → {hidden}"
        nodes["mlp"] = f"feed-forward\\n{sizes}, {ACTIVATION_NAMES[config.activation]}"
        if config.residual:
            nodes["res_2"] = "+"
    if config.layer_norm:
        nodes["ln_f"] = "LayerNorm"
    nodes["lm_head"] = f"LM head\\n{C} → {V}"
    return nodes


def _edges(nodes: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(from, to, is_skip) along the data path, plus the residual skips around attention and MLP."""
    order = ["idx", *(k for k in nodes if k not in ("wpe",)), "logits"]
    edges = [(a, b, False) for a, b in zip(order, order[1:], strict=False)]
    if "wpe" in nodes:
        edges.append(("wpe", "add", False))
    if "res_1" in nodes:
        block_in = order[order.index("ln_1" if "ln_1" in nodes else "attn") - 1]
        edges.append((block_in, "res_1", True))
    if "res_2" in nodes:
        edges.append(("res_1", "res_2", True))
    return edges


BLOCK_PARTS = ("ln_1", "attn", "res_1", "ln_2", "mlp", "res_2")


def block_diagram(config, previous=None) -> str:
    """The model of `config` as Graphviz DOT, top to bottom; boxes and arrows that `previous` (the
    rung before) lacks are filled orange. The block's repeated part is framed with its count."""
    nodes, old = _nodes(config), _nodes(previous) if previous is not None else {}
    edges, old_edges = _edges(nodes), set(_edges(old)) if old else set()
    lines = [
        "digraph {",
        'rankdir=TB; nodesep=0.3; ranksep=0.25; bgcolor="transparent";',
        'node [shape=box, style="rounded,filled", fillcolor="#f1f5f9", color="#64748b", fontname="Helvetica", fontsize=11];',
        'edge [color="#64748b", arrowsize=0.6];',
        'idx [shape=plaintext, style="", label="characters (B, T)"];',
        'logits [shape=plaintext, style="", label="logits (B, T, vocab): the next character"];',
    ]
    in_block = [k for k in BLOCK_PARTS if k in nodes]
    for key, text in nodes.items():
        if key not in in_block:
            lines.append(_node(key, text, key not in old or old[key] != text))
    if in_block:
        frame = _frame(config)
        color = "#c2410c" if previous is not None and frame != _frame(previous) else "#94a3b8"
        lines.append(
            f'subgraph cluster_block {{ label="{frame}"; style="rounded,dashed"; color="{color}"; fontname="Helvetica"; fontsize=11;'
        )
        lines += [_node(k, nodes[k], k not in old or old[k] != nodes[k]) for k in in_block]
        lines.append("}")
    for a, b, skip in edges:
        style = ["style=dashed, constraint=false" if skip else ""]
        if old and (a, b, skip) not in old_edges:
            style.append('color="#c2410c", penwidth=2')
        attrs = ", ".join(s for s in style if s)
        lines.append(f"{a} -> {b}" + (f" [{attrs}];" if attrs else ";"))
    lines.append("}")
    return "\n".join(lines)


def _frame(config) -> str:
    """The block's frame label: how many blocks, and the dropout inside them."""
    n_layer = getattr(config, "n_layer", 0)
    frame = f"block × {n_layer}" if n_layer > 1 else "block"
    return frame + (f", dropout {config.dropout:g}" if getattr(config, "dropout", 0) else "")


def _node(key: str, text: str, new: bool) -> str:
    shape = ", shape=circle, width=0.3, fixedsize=true" if text == "+" else ""
    fill = f', fillcolor="{NEW}", color="#c2410c", penwidth=2' if new else ""
    return f'{key} [label="{text}"{shape}{fill}];'
