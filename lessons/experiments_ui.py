"""Streamlit components of the extensions lesson (lessons/9_experiments.py): the shipped table,
the choice of a switch and its budget, and the live comparison. The experiment is
`course.experiments`, its run a background run of `course.runs` (the race's machinery), its charts
and tables `course.figures.experiments`."""

from __future__ import annotations

import streamlit as st

from course import experiment_table, experiments, runs
from course.figures import experiments as figures
from course.plan import TrainingData
from course.text import duration
from lessons import ui
from lessons.training_ui import owns_active

RUN = "experiment_run_id"
REFRESH = 1.0  # seconds between redraws of a running experiment
CHARS = (50_000, 2_000_000, 600_000, 50_000)  # the budget slider: min, max, default, step


@st.cache_data(show_spinner=False, max_entries=1)
def shipped_table() -> dict | None:
    return experiment_table.load_table()


def table(text_name: str) -> None:
    """The shipped table of every switch against the baseline, with the command that made it."""
    t = shipped_table()
    if t is None:
        st.info(
            "The shipped table (checkpoints/experiments.json) is missing: make it with the command below."
        )
        st.code("python -m course.experiment_table --out checkpoints/experiments.json", language="bash")
        return
    ui.plot(figures.table_figure(t), "experiments_table_chart")
    st.dataframe(figures.table_frame(t), hide_index=True, width="stretch")
    st.markdown(figures.warmup_sentence(t))
    st.caption(
        f"Tiny Shakespeare, {t['chars']:,} training characters per model, seeds "
        f"{', '.join(str(s) for s in sorted({r['seed'] for r in t['results']}))}; mean ± standard deviation. "
        "The difference from the baseline is paired by seed. A switch counts as better or worse only when its "
        "mean difference is more than twice that spread. "
        f"Made by `{t['command']}` in {duration(t['wall_seconds'])} on {t['workers']} cores."
        + (
            ""
            if text_name == ui.SHAKESPEARE
            else f" Your text, {text_name}, may answer differently: try it below."
        )
    )


@st.cache_resource(show_spinner="Preparing both models' tokenizers…", max_entries=8)
def experiment(
    switch: str, text_sha256: str, _text: str, chars: int, seed: int
) -> experiments.ExperimentSpec:
    """Shared by every viewer: keyed by the text's checksum, since two uploads may share a name."""
    return experiments.make_experiment(switch, _text, chars, seed)


def choose(text_name: str, text: str, data: TrainingData) -> experiments.ExperimentSpec | None:
    """The switch, the budget and the seed; returns the experiment, or None with the reason shown."""
    switch = st.selectbox(
        "Switch",
        list(experiments.SWITCHES),
        format_func=lambda k: experiments.SWITCHES[k].label,
        key="experiment_switch",
    )
    st.caption(experiments.SWITCHES[switch].why)
    left, right = st.columns(2)
    lo, hi, default, step = CHARS
    chars = left.slider(
        "Training characters per model",
        lo,
        hi,
        default,
        step,
        key="experiment_chars",
        help="Both models read this many characters of the training text, in the same number of steps.",
    )
    seed = right.number_input("Seed", 0, 2**31 - 1, 1337, key="experiment_seed")
    try:
        return experiment(switch, data.summary["dataset_sha256"], text, chars, int(seed))
    except (ValueError, RuntimeError) as e:
        st.error(f"This switch cannot train on {text_name}: {e}", icon=":material/error:")
        return None


def plan(spec: experiments.ExperimentSpec) -> None:
    """What each model will be: its size, tokens and batches, before anything trains."""
    rows = [
        {
            "model": figures.model_name(kind),
            "parameters": spec.parameters(kind),
            "vocabulary": arm.config.vocab_size,
            "context (tokens)": arm.config.block_size,
            "characters per token": round(arm.chars_per_token, 2),
            "rows per batch": arm.train.batch_size,
            "steps": spec.steps,
        }
        for kind, arm in spec.arms.items()
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def attached(registry: runs.RunRegistry) -> runs.Run | None:
    run = registry.get(st.session_state.get(RUN))
    return run if run is not None and experiments.is_experiment(run) else None


def start_stop(registry: runs.RunRegistry, run, spec, data) -> None:
    left, right = st.columns([1, 4], vertical_alignment="center")
    if owns_active(run):
        if left.button("Stop", icon=":material/stop:", key="experiment_stop"):
            registry.stop(run.id, ui.viewer())
        return
    if left.button("Train both", key="experiment_start", type="primary", icon=":material/play_arrow:"):
        try:
            run = registry.start(spec, data, ui.USER_DIR, owner=ui.viewer())
        except runs.TooManyRuns as e:
            right.warning(str(e), icon=":material/hourglass_top:")
            return
        st.session_state[RUN] = run.id
        st.rerun()


def live(registry: runs.RunRegistry, run_id: str, text_name: str) -> None:
    """Both models' bits per character as they train, side by side, redrawn while the run lasts."""
    active = registry.get(run_id).status in runs.ACTIVE

    @st.fragment(run_every=REFRESH if active else None)
    def panel() -> None:
        view = registry.get(run_id).view()
        st.progress(
            view.progress, text=f"**{view.name}**: {view.status}, step {view.step:,} / {view.spec.steps:,}"
        )
        ui.plot(figures.bpc_figure(view), "experiment_chart")
        st.caption(
            f"A point at each evaluation (every {view.spec.train.eval_interval} steps): the mean over "
            f"{view.spec.train.eval_iters} batches of the validation text, in bits per character."
        )
        st.dataframe(figures.side_by_side(view), hide_index=True, width="stretch")
        st.markdown(figures.verdict(view, shipped_table(), text_name == ui.SHAKESPEARE))
        for col, (kind, trace) in zip(st.columns(2), view.models.items(), strict=True):
            step, sample = trace.samples[-1] if trace.samples else (0, "A sample appears at each evaluation.")
            col.caption(
                f"{figures.model_name(kind)}, sample at step {step:,}:" if step else figures.model_name(kind)
            )
            col.code(sample, language=None, wrap_lines=True)
        if view.status == runs.FAILED:
            st.error(view.error, icon=":material/error:")
        if active and not view.active:
            st.rerun()

    panel()
