"""Figures for the byte-pair encoding section of the tokenizer lesson (lessons/bpe_section.py): the
vocabulary size vs sequence length trade-off, a sentence as coloured tokens, and the merges table.
Every number comes from `course.subwords`; no Streamlit calls."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from course.subwords import BPETraining, MergeRow, Piece, TradeOff
from tinygpt.bpe import N_BYTES

ACCENT, MUTED, INK = "#c2410c", "#64748b", "#1f2937"
# pale backgrounds that alternate so neighbouring tokens stay apart
CHIPS = ("#fde2d4", "#dbeafe", "#dcfce7", "#fef9c3", "#ede9fe")


def length_figure(training: BPETraining, now: TradeOff) -> go.Figure:
    """The text's length in tokens against the vocabulary size, with the character tokenizer of
    lesson 1 and the chosen number of merges marked."""
    sizes = [N_BYTES + n for n in range(len(training.lengths))]
    data = [
        go.Scatter(x=sizes, y=training.lengths, name="BPE", line=dict(color=ACCENT, width=3)),
        _marker(training.n_distinct_chars, training.n_chars, "characters (lesson 1)", INK, "diamond"),
        _marker(now.vocab_size, now.n_tokens, f"{now.n_merges} merges", ACCENT, "circle"),
    ]
    return go.Figure(
        data=data, layout=_layout("Bigger vocabulary, shorter text", "the whole text, in tokens")
    )


def rarity_figure(training: BPETraining, now: TradeOff) -> go.Figure:
    """How often each merge's new token occurs in the text (log), against the vocabulary size."""
    sizes = [N_BYTES + n for n in range(1, len(training.counts) + 1)]
    data = [go.Scatter(x=sizes, y=training.counts, name="new token", line=dict(color=MUTED, width=2))]
    if now.newest_count:
        data.append(_marker(now.vocab_size, now.newest_count, f"merge {now.n_merges}", ACCENT, "circle"))
    layout = _layout("…but each new token is rarer", "times the newest token occurs")
    layout["yaxis"] |= dict(type="log", dtick=1, rangemode="normal")
    return go.Figure(data=data, layout=layout)


def _marker(x, y, name: str, color: str, symbol: str) -> go.Scatter:
    marker = dict(color=color, size=12, symbol=symbol, line=dict(color="white", width=2))
    return go.Scatter(x=[x], y=[y], name=name, mode="markers", marker=marker)


def _layout(title: str, y_title: str) -> dict:
    return dict(
        title=dict(text=title, font=dict(size=14)),
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title="vocabulary size", rangemode="tozero"),
        yaxis=dict(title=y_title, rangemode="tozero", tickformat=",d"),
        legend=dict(orientation="h", y=-0.25),
    )


def tokens_html(pieces: list[Piece]) -> str:
    """The sentence as coloured chips, one per token, its id in the tooltip."""
    chips = [
        f'<span title="id {p.id}" style="background:{CHIPS[i % len(CHIPS)]};color:{INK};padding:2px 1px;'
        f'margin:0 1px;border-radius:4px;font-family:monospace;white-space:pre">{html.escape(p.text)}</span>'
        for i, p in enumerate(pieces)
    ]
    return f'<div style="line-height:2.1;font-size:1.05rem">{"".join(chips)}</div>'


def merges_frame(rows: list[MergeRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "merge": [r.rank for r in rows],
            "left": [r.left for r in rows],
            "right": [r.right for r in rows],
            "→ new token": [r.token for r in rows],
            "id": [r.id for r in rows],
            "times in the text": [r.count for r in rows],
        }
    )
