"""The training lesson's (lessons/3_training.py) chart, tables and formatting, with no Streamlit calls,
so the benchmark (bench/bench_race.py) can time exactly what each live redraw builds. Every number
comes from `tinygpt.plan` and `tinygpt.jobs`.

Built in one `go.Figure(data=..., layout=...)` call: the chart is rebuilt every second while a run
trains, and each later `add_*`/`update_layout` call would validate the whole figure again.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tinygpt.jobs import JobView, batch_curve
from tinygpt.models import build_model, parameter_table
from tinygpt.plan import JobSpec, preset_defaults

NAMES = {"bigram": "Bigram", "gpt": "Transformer"}
COLORS = {"bigram": "#64748b", "gpt": "#c2410c"}
FIELDS = (
    "n_layer",
    "n_head",
    "n_embd",
    "block_size",
    "dropout",
    "batch_size",
    "learning_rate",
    "eval_interval",
)


def widget_defaults(preset: str) -> dict:
    """The page's settings for a preset: its fields, the kind of budget, and both budgets' values."""
    d = preset_defaults(preset)
    return {**{k: d[k] for k in FIELDS}, "budget": "seconds" if d["max_seconds"] else "steps",
            "max_seconds": d["max_seconds"] or 60.0, "max_steps": d["max_steps"] or 2000}  # fmt: skip


def parameter_frame(spec: JobSpec) -> pd.DataFrame:
    """Parameters by component, for each model of the job (the models are built, not trained)."""
    models = {k: build_model(k, spec.model_config(k)) for k in spec.models}
    return pd.DataFrame([{"model": NAMES[k], **row} for k, m in models.items() for row in parameter_table(m)])


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 2 h 10 min; a dash when unknown."""
    if seconds is None:
        return "–"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds:.0f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def loss_figure(view: JobView, floor: float, by: str = "step") -> go.Figure:
    """Per model: the smoothed loss of each batch (thin), train and val loss at each evaluation
    (dotted, bold), and the best any bigram can do (dashed). x: the step, or seconds (by="time")."""
    key = "step" if by == "step" else "elapsed"
    data = []
    for kind, trace in view.models.items():
        name, color = NAMES[kind], COLORS[kind]
        xs, ys = batch_curve(trace, by)
        data.append(
            go.Scatter(x=xs, y=ys, name=f"{name}: batch loss", opacity=0.45, line=dict(color=color, width=1))
        )
        for split, line in (("train", dict(dash="dot", width=1.5)), ("val", dict(width=3))):
            data.append(go.Scatter(
                x=[e[key] for e in trace.evals], y=[e[f"{split}_loss"] for e in trace.evals], mode="lines+markers",
                name=f"{name}: {split}", line=dict(color=color, **line), marker=dict(size=5),
            ))  # fmt: skip
    layout = go.Layout(
        height=420, margin=dict(l=0, r=0, t=10, b=0), hovermode="x unified",
        xaxis=dict(title="step" if by == "step" else "seconds", rangemode="tozero"),
        yaxis=dict(title="loss (cross-entropy)"), legend=dict(orientation="h", y=-0.18),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=floor, y1=floor, line=dict(dash="dash", color="#334155"))],
        annotations=[dict(xref="paper", x=1, y=floor, yanchor="top", xanchor="right", showarrow=False,
                          text=f"the best any bigram can do: {floor:.2f}", font=dict(color="#334155"))],
    )  # fmt: skip
    return go.Figure(data=data, layout=layout)
