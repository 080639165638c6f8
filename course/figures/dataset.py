"""Figures and tables for the dataset lesson (lessons/1_dataset.py): character frequencies, the
train/val split drawn to scale, the tokenizer playground and the examples hidden in a batch row."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from course.dataset import Example, Playground, TextStats
from course.text import char_label, visible

ACCENT, MUTED = "#c2410c", "#94a3b8"
UNKNOWN_ROW = "background-color: #fde2d4"


def frequency_figure(stats: TextStats) -> go.Figure:
    chars, counts = zip(*stats.frequencies, strict=True)
    bars = go.Bar(
        x=[char_label(c) for c in chars],
        y=counts,
        marker_color=ACCENT,
        hovertemplate="%{x}: %{y:,} times<extra></extra>",
    )
    layout = go.Layout(
        title="How often each character appears",
        height=320,
        margin=dict(t=40, b=10, l=10, r=10),
        xaxis=dict(type="category", tickangle=0, dtick=1),
        yaxis=dict(title="count"),
    )
    return go.Figure(bars, layout)


def split_figure(n_train: int, n_val: int) -> go.Figure:
    """One bar, the text, cut to scale into its train and val parts."""
    total = n_train + n_val
    bars = [
        go.Bar(
            x=[n],
            y=["text"],
            name=name,
            orientation="h",
            marker_color=color,
            text=[f"{name} {n / total:.0%}"],
        )
        for name, n, color in (("train", n_train, ACCENT), ("val", n_val, MUTED))
    ]
    layout = go.Layout(
        barmode="stack",
        height=140,
        showlegend=False,
        margin=dict(t=10, b=10, l=10, r=10),
        xaxis=dict(title="position in the text (tokens)"),
        yaxis=dict(visible=False),
    )
    return go.Figure(bars, layout)


def playground_table(pg: Playground):
    """One row per typed character: its id and what each lenient mode makes of it; unknown rows shaded."""
    table = pd.DataFrame(
        {
            "character": [char_label(r.char) for r in pg.rows],
            "in vocabulary": [r.known for r in pg.rows],
            "id": pd.array([r.id for r in pg.rows], dtype="Int64"),
            f"unknown='replace' ({char_label(pg.replacement)})": [r.replace_id for r in pg.rows],
            "unknown='drop'": pd.array([r.drop_id for r in pg.rows], dtype="Int64"),
        }
    )
    shade = [UNKNOWN_ROW] * len(table.columns)
    return table.style.apply(lambda row: [""] * len(row) if row["in vocabulary"] else shade, axis=1)


def examples_table(examples: list[Example]) -> pd.DataFrame:
    """The lecture's "when the input is ... the target is ..." as a table."""
    return pd.DataFrame(
        [
            {
                "t": e.t,
                "when the input is": str(e.context_ids),
                "(text)": visible(e.context),
                "the target is": e.target_id,
                "(char)": char_label(e.target),
            }
            for e in examples
        ]
    )
