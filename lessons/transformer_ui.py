"""Streamlit components of the ladder lesson (lessons/3_transformer.py): the shipped results, one
rung's card (diagram, sentence, numbers, sample, code), and the live climb or descent that trains
in the background (a run of a course.ladder.LadderSpec in the server's course.runs registry)."""

import streamlit as st

from course import ladder, runs
from course.figures import ladder as figures
from course.plan import TrainingData
from course.rungs import CLIMB, RUNGS, LadderSettings, rung_config
from course.text import duration
from lessons import ui
from tinygpt.checkpoint import CheckpointError
from tinygpt.sample import SampleConfig, generate_text

RUN, REFRESH = "ladder_run_id", 1.0
LOSS = st.column_config.NumberColumn(format="%.3f")
COLUMNS = {
    "parameters": st.column_config.NumberColumn(format="localized"),
    "val loss": LOSS,
    "shipped val": st.column_config.NumberColumn(
        format="%.3f", help="The shipped rung's val loss at the same step"
    ),
    "train loss": LOSS,
}


@st.cache_data(show_spinner=False)
def shipped(mtime: float) -> tuple[ladder.Staircase | None, ladder.TopRung | None, str | None]:
    """The shipped staircase and rung 7, or why they cannot be shown."""
    try:
        stairs = ladder.load_staircase()
    except ValueError as e:
        return None, None, str(e)
    try:
        return stairs, ladder.top_rung(), None
    except (CheckpointError, OSError) as e:
        return stairs, None, f"rung 7 is missing: {e}"


def load_shipped() -> tuple[ladder.Staircase | None, ladder.TopRung | None]:
    mtime = ladder.RESULTS.stat().st_mtime if ladder.RESULTS.exists() else 0.0
    stairs, top, problem = shipped(mtime)
    if problem:
        st.warning(f"{problem}. Run `{ladder.REBUILD}` to make it.", icon=":material/warning:")
    return stairs, top


@st.cache_data(show_spinner="Writing with the shipped model…", max_entries=1)
def top_sample(_ckpt, mtime: float) -> str:
    return generate_text(_ckpt.model, _ckpt.tokenizer, "", SampleConfig(200, seed=1337))


def rung_card(n: int, stairs: ladder.Staircase, top: ladder.TopRung | None) -> None:
    """Rung n (1-7): its diagram with what is new highlighted, what it adds, its numbers and sample."""
    vocab = ladder.VOCAB_SIZE
    if n <= len(CLIMB):
        rung = CLIMB[n - 1]
        config, note, stats = rung_config(rung, vocab), ladder.NOTES[rung.key], stairs.rungs.get(rung.key)
    else:
        config, note, stats = (top.config if top else None), ladder.NOTES["top"], None
    previous = rung_config(CLIMB[n - 2], vocab) if n > 1 else None
    left, right = st.columns([2, 3], gap="large")
    if config is not None:
        left.graphviz_chart(figures.block_diagram(config, previous))
        left.caption("Orange: new in this rung.")
    right.markdown(note.text)
    if stats is not None:
        lecture = f"{stats.val_mean - stats.lecture_val:+.3f} vs the lecture's {stats.lecture_val:.2f}"
        ui.metrics(
            [
                ("parameters", f"{stats.params:,}"),
                ("val loss", f"{stats.val_mean:.3f}"),
                ("train loss", f"{stats.train_mean:.3f}"),
            ],
            right.columns(3),
        )
        theirs = ladder.LECTURE_PARAMS[stats.key]
        biases = (
            f"The lecture's has {theirs:,} parameters: its layers carry biases. "
            if theirs != stats.params
            else ""
        )
        steps = stairs.settings.get("max_steps", 0)
        right.caption(
            f"Val loss: mean of {len(stats.val)} seeds, {lecture}. {biases}A sample after {steps:,} steps:"
        )
        right.code(stats.sample, language=None, wrap_lines=True)
    elif top is not None:
        ui.metrics(
            [
                ("parameters", f"{top.params:,}"),
                ("val loss", "–" if top.val_loss is None else f"{top.val_loss:.3f}"),
                ("lecture's val", f"{ladder.LECTURE_TOP_VAL:.2f}"),
            ],
            right.columns(3),
        )
        right.caption(f"The lecture's model has {ladder.LECTURE_TOP_PARAMS:,} parameters. A sample:")
        with right:
            if ckpt := ui.load_listed(ladder.TOP_MODEL):
                right.code(top_sample(ckpt, ladder.TOP_MODEL.stat().st_mtime), language=None, wrap_lines=True)
    with right:
        ui.show_source(*note.sources, label="The code that does it, from the library")


# ---- live runs -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Encoding the text…", max_entries=1)
def shakespeare_data(text: str) -> TrainingData:
    return TrainingData.from_text(text, ui.SHAKESPEARE)


def current_run() -> runs.Run | None:
    """The ladder run this session shows: the one it started, or the one in the URL (a reload or a
    shared link: watched, and stoppable only by the session that started it)."""
    registry = runs.shared_registry()
    run = registry.get(st.session_state.get(RUN)) or registry.get(st.query_params.get("climb"))
    if run is None or not ladder.is_ladder_run(run):
        return None
    st.session_state[RUN] = st.query_params["climb"] = run.id
    return run


def start_button(rungs: tuple[str, ...], steps: int, label: str, key: str, where=st) -> None:
    """Start training `rungs` in turn for `steps` each; Stop instead while this session's run trains."""
    run, registry = current_run(), runs.shared_registry()
    if run is not None and run.status in runs.ACTIVE and registry.can_control(run.id, ui.viewer()):
        if is_descent(run.spec.rungs) != is_descent(rungs):  # the other section's run: stop it there
            where.button(label, key=key, disabled=True, help="Your other run is still training.")
        elif where.button(
            "Stop", icon=":material/stop:", key=f"{key}_stop", help="Ends after an evaluation."
        ):
            registry.stop(run.id, ui.viewer())
        return
    if not where.button(label, type="primary", icon=":material/play_arrow:", key=key):
        return
    text = ui.ensure_shakespeare()
    if text is None:
        return
    data = shakespeare_data(text)
    spec = ladder.LadderSpec(rungs, ladder.live_settings(steps), data.tokenizer.vocab_size)
    try:
        run = registry.start(spec, data, ui.USER_DIR, owner=ui.viewer())
    except runs.TooManyRuns as e:
        where.warning(str(e), icon=":material/hourglass_top:")
        return
    st.session_state[RUN] = st.query_params["climb"] = run.id
    st.rerun()


def is_descent(rungs: tuple[str, ...]) -> bool:
    return any(ladder.rung_number(k) is None for k in rungs)


def live(stairs: ladder.Staircase, top, descent: bool, chosen: str = "") -> None:
    """The session's ladder run of this kind (climb or descent), redrawn every second while it trains."""
    run = current_run()
    if run is None or is_descent(run.spec.rungs) != descent:
        return

    @st.fragment(run_every=REFRESH if run.status in runs.ACTIVE else None)
    def panel(was_active: bool) -> None:
        view = run.view()
        points = ladder.live_points(view)
        steps = view.spec.settings.max_steps
        if view.active:
            now = next((p for p in points if not p.done), points[-1])
            text = f"{figures.label(now.key)} at step {now.step:,} of {steps:,}"
        else:
            trained = [p for p in points if p.step]
            text = f"{len(trained)} of {len(points)} rung(s) trained"
        text = f"**{view.name}**: {view.status}, {text}"
        st.progress(view.progress, text=f"{text} · {duration(view.elapsed)}")
        if descent:
            ui.plot(figures.descent_figure(stairs, chosen, points), "ladder_descent_live")
        else:
            ui.plot(figures.staircase_figure(stairs, top, points, steps), "ladder_climb_live")
        st.dataframe(live_table(points, stairs, steps), hide_index=True, column_config=COLUMNS)
        if view.status == runs.FAILED:
            st.error(view.error, icon=":material/error:")
        if was_active and not view.active:
            st.rerun()  # the whole page, so the buttons and the refresh timer follow

    panel(run.status in runs.ACTIVE)


def live_table(points: list[ladder.LivePoint], stairs: ladder.Staircase, steps: int) -> list[dict]:
    rows = []
    for p in points:
        shipped = stairs.rungs.get(p.key)
        rows.append(
            {
                "rung": figures.label(p.key),
                "parameters": p.params,
                "step": p.step,
                "val loss": p.val,
                "shipped val": shipped.val_at(steps) if shipped else None,
                "train loss": p.train,
                "latest sample": p.sample.replace("\n", " ⏎ "),
            }
        )
    return rows


def settings_note(settings: dict) -> str:
    s = LadderSettings(**{k: v for k, v in settings.items() if k in LadderSettings.__dataclass_fields__})
    return (
        f"batch {s.batch_size}, block {s.block_size}, n_embd {s.n_embd}, AdamW at {s.learning_rate:g} "
        f"(the bigram at {s.bigram_lr:g}), {s.max_steps:,} steps a rung, loss over {s.eval_iters} batches"
        + ("" if s.max_steps == 3000 else "; the lecture's bigram.py trains its bigram 3,000 steps at 1e-2")
    )


def descent_card(key: str, stairs: ladder.Staircase) -> None:
    """What removing one piece from the full model does, from the shipped results."""
    full, less = stairs.rungs.get("deep"), stairs.rungs.get(key)
    st.markdown(ladder.NOTES[key].text)
    if full and less:
        delta = f"{less.val_mean - full.val_mean:+.3f} vs the full model"
        ui.metrics(
            [
                ("full model: val", f"{full.val_mean:.3f}"),
                (f"{figures.SHORT[key]}: val", f"{less.val_mean:.3f}"),
                ("difference", delta.split()[0]),
            ]
        )
        st.code(less.sample, language=None, wrap_lines=True)
    ui.show_source(*ladder.NOTES[key].sources, label="Where the piece lives in the library")
    st.caption(f"The switch: `{', '.join(f'{k}={v}' for k, v in RUNGS[key].changes.items())}`")
