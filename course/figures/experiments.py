"""The extensions lesson's charts and tables (lessons/9_experiments.py), with no Streamlit calls:
a live experiment's bits per character, its side-by-side table, and the shipped table of every
switch against the baseline (course/experiment_table.py)."""

from __future__ import annotations

import statistics

import pandas as pd
import plotly.graph_objects as go

from course.experiments import BASELINE, SWITCHES, ExperimentSpec
from course.runs import RunView

COLORS = {BASELINE: "#64748b", "switch": "#c2410c"}


def model_name(kind: str) -> str:
    return "Baseline" if kind == BASELINE else SWITCHES[kind].label


def _color(kind: str) -> str:
    return COLORS[BASELINE] if kind == BASELINE else COLORS["switch"]


def bpc_figure(view: RunView) -> go.Figure:
    """Each model's validation bits per character at each evaluation, against the training
    characters read so far (the same for both models at the same step)."""
    spec: ExperimentSpec = view.spec
    per_step = spec.train.batch_size * spec.block_size  # the baseline's characters per step
    data = [
        go.Scatter(
            x=[e["step"] * per_step for e in trace.evals],
            y=[spec.arms[kind].bpc(e["val_bpc"]) for e in trace.evals],
            mode="lines+markers",
            name=model_name(kind),
            line=dict(color=_color(kind), width=3),
        )
        for kind, trace in view.models.items()
    ]
    layout = go.Layout(
        height=360,
        margin=dict(l=0, r=0, t=10, b=0),
        hovermode="x unified",
        xaxis=dict(title="training characters read"),
        yaxis=dict(title="validation bits per character"),
        legend=dict(orientation="h", y=-0.2),
    )
    return go.Figure(data=data, layout=layout)


def side_by_side(view: RunView) -> pd.DataFrame:
    """One row per model: where it stands now, and what it costs."""
    spec: ExperimentSpec = view.spec
    rows = []
    for kind, trace in view.models.items():
        arm, last = spec.arms[kind], trace.evals[-1] if trace.evals else {}
        recent = trace.rates[-50:]
        rows.append(
            {
                "model": model_name(kind),
                "val bits/char": arm.bpc(last["val_bpc"]) if last else None,
                "val loss/token": last.get("val_loss"),
                "parameters": spec.parameters(kind),
                "of which spelling unknown words": round(arm.spelling_bpc, 3),
                "characters per token": round(arm.chars_per_token, 2),
                "rows per batch": arm.train.batch_size,
                "tokens/s": round(statistics.median(recent)) if recent else None,
                "steps": trace.steps[-1] if trace.steps else 0,
            }
        )
    return pd.DataFrame(rows)


def verdict(view: RunView, table: dict | None, same_text: bool = True) -> str:
    """One sentence on what the difference means: against the seeds' spread in the shipped table when
    the run matches the table's setting (its text and budget), else a pointer to the table."""
    spec: ExperimentSpec = view.spec
    ends = {k: spec.arms[k].bpc(t.evals[-1]["val_bpc"]) for k, t in view.models.items() if t.evals}
    if len(ends) < 2:
        return "The comparison appears after both models' first evaluation."
    diff = ends[spec.switch] - ends[BASELINE]
    word = "lower (better)" if diff < 0 else "higher (worse)"
    sentence = (
        f"{model_name(spec.switch)} is at {ends[spec.switch]:.3f} bits per character, {abs(diff):.3f} {word} "
        f"than the baseline's {ends[BASELINE]:.3f}"
    )
    row = next((r for r in (table or {}).get("rows", []) if r["switch"] == spec.switch), None)
    if row is None or view.active:
        return sentence + "."
    measured = (
        f"the shipped table measured {row['diff_mean']:+.3f} ± {row['diff_spread']:.3f} across three seeds"
    )
    read = view.step * spec.train.batch_size * spec.block_size  # the steps taken: a stopped run took fewer
    if not same_text or abs(read - table["chars"]) > 0.05 * table["chars"]:
        where = "Tiny Shakespeare" if same_text else "Tiny Shakespeare, not this text"
        return (
            f"{sentence}, after {read:,} training characters. On {where}, after {table['chars']:,}, {measured}: "
            "a difference early in training, or on another text, need not last or carry over."
        )
    noise = 2 * row["diff_spread"]
    within = abs(diff) <= noise
    return (
        f"{sentence}. In the same setting {measured}: a difference of {abs(diff):.3f} is "
        + ("within the seeds' noise (±" if within else "larger than the seeds' noise (±")
        + f"{noise:.3f}), so this run {'alone does not show' if within else 'shows'} an effect."
    )


def table_rows(table: dict) -> list[dict]:
    """The table's rows, the baseline first, then the switches in the page's order."""
    order = [BASELINE, *SWITCHES]
    return sorted(
        table["rows"], key=lambda r: order.index(r["switch"]) if r["switch"] in order else len(order)
    )


def table_frame(table: dict) -> pd.DataFrame:
    """The shipped table: each switch's mean and spread, and its paired difference from the baseline."""
    return pd.DataFrame(
        [
            {
                "switch": r["label"],
                "val bits/char": f"{r['val_bpc_mean']:.3f} ± {r['val_bpc_spread']:.3f}",
                "vs baseline": ""
                if "diff_mean" not in r
                else f"{r['diff_mean']:+.3f} ± {r['diff_spread']:.3f}",
                "verdict": r.get("verdict", "the reference"),
                "parameters": r["params"],
                "tokens/s": r["tokens_per_sec"],
            }
            for r in table_rows(table)
        ]
    )


def table_figure(table: dict) -> go.Figure:
    """Each switch's difference from the baseline in bits per character, with its spread over seeds."""
    rows = [r for r in table_rows(table) if "diff_mean" in r]
    colors = {"better": "#15803d", "worse": "#b91c1c"}
    bar = go.Bar(
        y=[r["label"] for r in rows],
        x=[r["diff_mean"] for r in rows],
        orientation="h",
        error_x=dict(type="data", array=[r["diff_spread"] for r in rows]),
        marker_color=[colors.get(r["verdict"], "#94a3b8") for r in rows],
        hovertemplate="%{y}: %{x:+.3f} bits/char<extra></extra>",
    )
    layout = go.Layout(
        height=60 + 36 * len(rows),
        margin=dict(l=0, r=0, t=10, b=0),
        xaxis=dict(title="bits per character against the baseline (lower is better)", zeroline=True),
        yaxis=dict(autorange="reversed"),
    )
    return go.Figure(data=[bar], layout=layout)


def warmup_sentence(table: dict) -> str:
    """What the table says about post-norm without warmup, where the 2017 design is known to struggle."""
    rows = {r["switch"]: r for r in table["rows"]}
    if not {"post_norm", "post_norm_no_warmup", "pre_norm_no_warmup"} <= set(rows):
        return ""
    post, cold, pre_cold = rows["post_norm"], rows["post_norm_no_warmup"], rows["pre_norm_no_warmup"]
    cost = cold["diff_mean"] - post["diff_mean"]  # what dropping the warmup costs post-norm
    noise = 2 * max(post["diff_spread"], cold["diff_spread"])
    shows = cost > noise
    return (
        f"**Post-norm without warmup.** Post-norm ends {post['diff_mean']:+.3f} bits per character from the "
        f"baseline with the recipe's short warmup and {cold['diff_mean']:+.3f} without it; pre-norm without warmup "
        f"ends {pre_cold['diff_mean']:+.3f}. "
        + (
            f"Dropping the warmup costs post-norm {cost:.3f} more, beyond the seeds' noise: the 2017 design's "
            "known weakness shows even here."
            if shows
            else f"Dropping the warmup costs post-norm {cost:+.3f}, within the seeds' noise (±{noise:.3f}): at this "
            "scale (two blocks; Muon, whose updates have a fixed size, trains their matrices) the 2017 design's need "
            "for a warmup does not show. It was reported for deeper models trained with Adam (Xiong et al., 2020, "
            "*On Layer Normalization in the Transformer Architecture*: large gradients near the output at the start)."
        )
    )
