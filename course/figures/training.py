"""The training lesson's (lessons/4_training.py) chart and tables, with no Streamlit calls, so the
benchmark (bench/bench_race.py) can time exactly what each live redraw builds. Every number comes
from `course.plan` and `course.runs`.

Built in one `go.Figure(data=..., layout=...)` call: the chart is rebuilt every second while a run
trains, and each later `add_*`/`update_layout` call would validate the whole figure again.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from course.plan import RunSpec, parameter_table
from course.runs import ModelTrace, RunView
from course.text import MODEL_NAMES as NAMES
from tinygpt.models import build_model

COLORS = {"bigram": "#64748b", "gpt": "#c2410c"}
INK = "#334155"


def parameter_frame(spec: RunSpec) -> pd.DataFrame:
    """Parameters by component, for each model of the run (the models are built, not trained)."""
    models = {k: build_model(k, spec.model_config(k)) for k in spec.models}
    return pd.DataFrame([{"model": NAMES[k], **row} for k, m in models.items() for row in parameter_table(m)])


def batch_curve(trace: ModelTrace, by: str = "step", points: int = 300) -> tuple[list, list]:
    """The loss of each training batch, smoothed (a moving average over about 20 steps, since single
    batches are noisy) and thinned to about `points` points; x is the step, or seconds if by="time"."""
    xs = trace.steps if by == "step" else trace.times
    ys, avg = [], None
    for loss in trace.losses:
        avg = loss if avg is None else 0.95 * avg + 0.05 * loss
        ys.append(avg)
    keep = list(range(0, len(xs), max(1, len(xs) // points)))
    if xs and keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def loss_figure(
    view: RunView, floor: float | None, by: str = "step", vocab_size: int | None = None
) -> go.Figure:
    """Per model: the smoothed loss of each batch (thin), train and val loss at each evaluation
    (dotted, bold); given them, the counted bigram's loss (dashed) and the loss of uniform guessing,
    ln(vocab_size) (dotted). x: the step, or seconds (by="time")."""
    key = "step" if by == "step" else "elapsed"
    data = []
    for kind, trace in view.models.items():
        name, color = NAMES[kind], COLORS[kind]
        xs, ys = batch_curve(trace, by)
        data.append(
            go.Scatter(x=xs, y=ys, name=f"{name}: batch loss", opacity=0.45, line=dict(color=color, width=1))
        )
        for split, line in (("train", dict(dash="dot", width=1.5)), ("val", dict(width=3))):
            data.append(
                go.Scatter(
                    x=[e[key] for e in trace.evals],
                    y=[e[f"{split}_loss"] for e in trace.evals],
                    mode="lines+markers",
                    name=f"{name}: {split}",
                    line=dict(color=color, **line),
                    marker=dict(size=5),
                )
            )
    levels = [] if floor is None else [(floor, "dash", f"a bigram counted from the text: {floor:.2f}")]
    if vocab_size:
        levels.append(
            (
                math.log(vocab_size),
                "dot",
                f"guessing uniformly: ln({vocab_size}) = {math.log(vocab_size):.2f}",
            )
        )
    layout = go.Layout(
        height=420,
        margin=dict(l=0, r=0, t=10, b=0),
        hovermode="x unified",
        xaxis=dict(title="step" if by == "step" else "seconds", rangemode="tozero"),
        yaxis=dict(title="loss (cross-entropy)"),
        legend=dict(orientation="h", y=-0.18),
        shapes=[
            dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(dash=dash, color=INK))
            for y, dash, _ in levels
        ],
        annotations=[
            dict(
                xref="paper",
                x=1,
                y=y,
                yanchor="top",
                xanchor="right",
                showarrow=False,
                text=text,
                font=dict(color=INK),
            )
            for y, _, text in levels
        ],
    )
    return go.Figure(data=data, layout=layout)
