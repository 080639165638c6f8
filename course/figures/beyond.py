"""Figures and tables for the closing lesson (lessons/7_beyond.py): models by size and training data
(table and log-log chart), and the loss of a fine-tuning run. Every number comes from `course.beyond`;
no Streamlit calls."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from course.beyond import TOKENS_PER_PARAM, Scale
from course.text import compact, duration

ACCENT, MUTED, INK = "#c2410c", "#94a3b8", "#1f2937"


def scale_frame(scales: list[Scale], flops_per_second: float | None) -> pd.DataFrame:
    """One row per model; the last column is how long its training would take at `flops_per_second`."""
    rows = []
    for s in scales:
        row = {
            "model": s.name,
            "parameters": compact(s.params),
            "reported": compact(s.published) if s.published else "",
            "layers × n_embd": f"{s.n_layer} × {s.n_embd}" if s.n_layer else "–",
            "context": s.block_size,
            "training tokens": compact(s.train_tokens),
            "tokens / parameter": f"{s.tokens_per_param:,.1f}",
            "compute (FLOPs)": f"{s.flops:.1e}",
        }
        if flops_per_second:
            seconds = s.flops / flops_per_second
            row["on this project's CPU"] = duration(seconds) if seconds >= 1 else "< 1 s"
        rows.append(row)
    return pd.DataFrame(rows)


def scale_figure(scales: list[Scale], mine: Scale | None = None) -> go.Figure:
    """Parameters against training tokens, both on log axes, with the compute-optimal line
    (tokens = 20 × parameters) for reference; `mine` is the learner's model of the size widget."""
    points = list(scales) + ([mine] if mine else [])
    params = [s.published or s.params for s in points]
    lo, hi = min(params) / 3, max(params) * 3
    data = [
        go.Scatter(
            x=[lo, hi],
            y=[TOKENS_PER_PARAM * lo, TOKENS_PER_PARAM * hi],
            mode="lines",
            name=f"{TOKENS_PER_PARAM} tokens per parameter (compute-optimal, Chinchilla)",
            line=dict(color=MUTED, dash="dot"),
        ),
        go.Scatter(
            x=params[: len(scales)],
            y=[s.train_tokens for s in scales],
            mode="markers+text",
            name="trained models",
            text=[s.name for s in scales],
            textposition=["top center" if i % 2 == 0 else "bottom center" for i in range(len(scales))],
            marker=dict(color=INK, size=12),
        ),
    ]
    if mine:
        data.append(
            go.Scatter(
                x=[params[-1]],
                y=[mine.train_tokens],
                mode="markers+text",
                name="your size, trained compute-optimally",
                text=[mine.name],
                textposition="bottom center",
                marker=dict(color=ACCENT, size=14, symbol="star"),
            )
        )
    layout = dict(
        title=dict(text="Parameters and training tokens, from a bigram to GPT-3", font=dict(size=14)),
        height=420,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(type="log", title="parameters", **_powers_of_ten(lo, hi)),
        yaxis=dict(type="log", title="training tokens", **_powers_of_ten(TOKENS_PER_PARAM * lo, 1e13)),
        legend=dict(orientation="h", y=-0.2),
    )
    return go.Figure(data=data, layout=layout)


def _powers_of_ten(lo: float, hi: float) -> dict:
    """Log-axis ticks at each power of ten from lo to hi, labelled 1, 10, 100, 1K, ... 1B, 1T."""
    exponents = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    labels = [
        f"{10 ** (e % 3)}{'KMBT'[e // 3 - 1] if e >= 3 else ''}" if e < 15 else f"1e{e}" for e in exponents
    ]
    return dict(tickvals=[10**e for e in exponents], ticktext=labels)


def fine_tune_figure(losses: list[float]) -> go.Figure:
    steps = list(range(1, len(losses) + 1))
    line = go.Scatter(x=steps, y=losses, mode="lines+markers", line=dict(color=ACCENT), marker=dict(size=4))
    return go.Figure(
        data=[line],
        layout=dict(
            title=dict(text="Fine-tuning loss on your pairs", font=dict(size=14)),
            height=260,
            margin=dict(l=10, r=10, t=40, b=10),
            xaxis=dict(title="step"),
            yaxis=dict(title="loss", rangemode="tozero"),
        ),
    )
