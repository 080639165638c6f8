"""Streamlit components of the training lesson (lessons/4_training.py): the settings form, the plan
shown before starting, the run panel (start, stop, the live chart) and the saved runs. Planning is
`course.plan`, the background run `course.runs`, the chart and tables `course.figures.training`."""

import math
from functools import partial

import streamlit as st

from course import plan, recipe, runs, saved_runs
from course.figures.training import loss_figure, parameter_frame
from course.text import MODEL_NAMES as NAMES
from course.text import duration
from lessons import ui
from tinygpt.device import best_device, describe_device, use_threads
from tinygpt.gpt import PRESETS

REFRESH = 1.0  # seconds between redraws of a running run (bench/bench_race.py measures its cost)
RUN = "train_run_id"
WHAT = {"race": plan.RACE, "gpt": ("gpt",), "bigram": ("bigram",)}
WHAT_LABELS = {"race": "Race both", "gpt": "Transformer only", "bigram": "Bigram only"}
PERSIST = dict(persist_state="session")  # the settings survive a visit to another lesson
COLUMNS = {
    "parameters": st.column_config.NumberColumn(format="localized"),
    "share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
}
EVAL_HELP = (
    "Each evaluation averages the loss over this many random batches of each split: one batch's loss "
    "jumps around, and the average of many says how good the model really is."
)


@st.cache_resource(show_spinner="Encoding the text…", max_entries=2)
def training_data(name: str, text: str) -> plan.TrainingData:
    return plan.TrainingData.from_text(text, name)


@st.cache_data(show_spinner=False, max_entries=4)
def bigram_floor(name: str, text: str) -> float:
    return plan.bigram_floor(training_data(name, text))


@st.cache_data(show_spinner="Timing a few real training steps on this device…", max_entries=32)
def step_time(_spec: plan.RunSpec, _data: plan.TrainingData, key: str) -> plan.StepTime:
    return plan.time_per_step(_spec, _data)


def attached_run(registry: runs.RunRegistry) -> runs.Run | None:
    """The run this session shows: the one it started or chose to watch, or the one in the URL (a
    shared link or a reload: watched, stoppable only by the session that started it)."""
    run = registry.get(st.session_state.get(RUN)) or registry.get(st.query_params.get("run"))
    if run is not None:
        st.session_state[RUN] = st.query_params["run"] = run.id
    return run


def owns_active(run: runs.Run | None) -> bool:
    return (
        run is not None
        and runs.shared_registry().can_control(run.id, ui.viewer())
        and run.status in runs.ACTIVE
    )


def _apply_preset() -> None:
    for k, v in plan.widget_defaults(st.session_state.train_preset).items():
        st.session_state[f"train_{k}"] = v


def _number(col, label: str, key: str, lo, hi, **kwargs):
    return col.number_input(label, lo, hi, key=f"train_{key}", **PERSIST, **kwargs)


def settings(data: plan.TrainingData) -> tuple[plan.RunSpec | None, list[str]]:
    """What to train and with which hyperparameters; returns the spec and every problem with it."""
    for k, v in {**plan.widget_defaults("cpu"), "preset": "cpu", "what": "race"}.items():
        st.session_state.setdefault(f"train_{k}", v)
    left, right = st.columns([3, 2])
    what = left.segmented_control(
        "What to train", list(WHAT), format_func=WHAT_LABELS.get, key="train_what", required=True, **PERSIST
    )
    preset = right.selectbox(
        "Preset",
        list(PRESETS),
        key="train_preset",
        on_change=_apply_preset,
        **PERSIST,
        help=recipe.preset_help(),
    )
    with st.expander("Hyperparameters", expanded=True, icon=":material/tune:"):
        c, off = st.columns(5), what == "bigram"
        lr_help = f"The Transformer's peak rate. The bigram, a single table, uses {plan.BIGRAM_LR:g}."
        values = {
            "n_layer": _number(c[0], "Layers", "n_layer", 1, 48, disabled=off),
            "n_head": _number(c[1], "Heads", "n_head", 1, 64, disabled=off),
            "n_embd": _number(c[2], "Embedding size", "n_embd", 1, 4096, disabled=off),
            "block_size": _number(c[3], "Block size", "block_size", 1, 8192, help="Characters of context."),
            "dropout": _number(c[4], "Dropout", "dropout", 0.0, 0.9, step=0.05, disabled=off),
            "batch_size": _number(c[0], "Batch size", "batch_size", 1, 4096),
            "learning_rate": _number(
                c[1], "Learning rate", "learning_rate", 1e-5, 1.0, step=1e-4, format="%.4f", help=lr_help
            ),
            "eval_interval": _number(c[2], "Evaluate every", "eval_interval", 1, 100_000, help="Steps."),
            "eval_iters": _number(c[3], "Batches per evaluation", "eval_iters", 1, 1000, help=EVAL_HELP),
        }
        budget = c[4].radio(
            "Stop after", ["seconds", "steps"], key="train_budget", horizontal=True, **PERSIST
        )
        if budget == "seconds":
            values |= {
                "max_steps": None,
                "max_seconds": _number(c[4], "Seconds", "max_seconds", 1.0, 86_400.0),
            }
        else:
            values |= {"max_seconds": None, "max_steps": _number(c[4], "Steps", "max_steps", 1, 1_000_000)}
    try:
        spec = plan.make_spec(WHAT[what], data.tokenizer.vocab_size, preset, **values)
        return spec, plan.check_spec(spec, data)
    except plan.SpecError as e:
        return None, e.problems


def plan_facts(spec: plan.RunSpec | None, problems: list[str], data: plan.TrainingData, busy: bool) -> None:
    """Before starting: the parameters by component, the device, memory and time per step."""
    left, right = st.columns([3, 2])
    use_threads()  # the threads a run will use, so the description and the timing match it
    facts = [
        f"**Device:** {describe_device(best_device())}",
        f"**Text:** {data.summary['dataset']}, {data.summary['dataset_chars']:,} characters, "
        f"{data.tokenizer.vocab_size} distinct",
    ]
    if problems:
        reasons = "\n".join(f"- {p}" for p in problems)
        left.error(f"**These settings can't train yet:**\n\n{reasons}", icon=":material/block:")
        right.markdown("  \n".join(facts))
        return
    table = parameter_frame(spec)
    left.dataframe(table, hide_index=True, column_config=COLUMNS)
    totals = table.groupby("model", sort=False)["parameters"].sum()
    facts += [
        f"**Parameters:** {' · '.join(f'{k} {v:,}' for k, v in totals.items())}",
        f"**Memory for a step:** about {plan.estimate_memory(spec) / 2**20:,.0f} MiB",
    ]
    if not busy:  # timing steps now would slow the run and measure a busy machine
        est = step_time(
            spec, data, f"{spec.models}{spec.gpt}{spec.train.batch_size}"
        )  # all a step depends on
        scaled = f" (timed at batch {est.timed_batch}, scaled up)" if est.timed_batch < est.batch_size else ""
        if est.estimated:
            scaled = " (estimated from its arithmetic: too large to time here without keeping the page busy)"
        facts.append(
            f"**Time per step:** about {est.seconds * 1000:,.0f} ms{scaled}: ~{60 / est.seconds:,.0f} "
            f"steps a minute, {est.tokens_per_sec:,.0f} characters/s"
        )
        if spec.train.max_steps:
            facts.append(
                f"**{spec.train.max_steps:,} steps:** about {duration(spec.train.max_steps * est.seconds)}"
            )
    right.markdown("  \n".join(facts))


def start_run(registry, spec, data: plan.TrainingData, where) -> None:
    """Start a run of `spec` owned by this session and show it; the server's cap is explained in `where`."""
    try:
        run = registry.start(spec, data, ui.USER_DIR, owner=ui.viewer())
    except runs.TooManyRuns as e:
        where.warning(str(e), icon=":material/hourglass_top:")
        return
    st.session_state[RUN] = st.query_params["run"] = run.id
    st.rerun()


def start_stop(registry, run, spec, data, problems) -> None:
    """Start (this session then owns the run) or stop a run; the server's cap is explained."""
    left, right = st.columns([1, 4], vertical_alignment="center")
    if owns_active(run):
        if left.button(
            "Stop", icon=":material/stop:", key="train_stop", help="Evaluates and saves what it learned."
        ):
            registry.stop(run.id, ui.viewer())
    elif left.button(
        "Start training", "train_start", type="primary", icon=":material/play_arrow:", disabled=bool(problems)
    ):
        start_run(registry, spec, data, right)
    if run is not None and not registry.can_control(run.id, ui.viewer()):
        right.caption(f"Watching **{run.name}**, started in another browser session.")


def live(registry, run_id: str, floor: float, data: plan.TrainingData) -> None:
    """The run's record as it is now, redrawn every REFRESH seconds while it runs. The reference
    lines (the counted bigram, uniform guessing) are `data`'s: left out when the run trains on another text."""
    active = registry.get(run_id).status in runs.ACTIVE

    @st.fragment(run_every=REFRESH if active else None)
    def panel() -> None:
        view = registry.get(run_id).view()
        floor_now, vocab_size = reference_lines(view, floor, data)
        total = f" / {view.spec.train.max_steps:,}" if view.spec.train.max_steps else ""
        text = view.text.get("dataset", data.summary["dataset"])
        st.progress(
            view.progress, text=f"**{view.name}** on **{text}**: {view.status}, step {view.step:,}{total}"
        )
        ui.metrics(
            [
                ("Steps/s", f"{view.steps_per_sec:.1f}"),
                ("Characters/s", f"{view.tokens_per_sec:,.0f}"),
                ("Elapsed", duration(view.elapsed)),
                ("Time left", duration(view.eta)),
            ]
        )
        by = st.segmented_control("x axis", ["step", "time"], default="step", key="train_x", required=True)
        ui.plot(loss_figure(view, floor_now, by, vocab_size), "train_chart")
        references = (
            "Dashed: a bigram made by counting which character follows which in the training text (plus one, "
            "as in makemore), scored on the validation text: a reference, not a bound; a trained bigram can "
            f"end a little above or below it. Dotted grey: ln({vocab_size}), the loss of a model that "
            "guesses every character equally. "
        )
        st.caption(
            f"Thin: each batch's loss, smoothed. Dotted and bold: train and val loss averaged over "
            f"{view.spec.train.eval_iters} batches at each evaluation. {references * bool(vocab_size)}"
            f"{first_losses(view, vocab_size)}"
        )
        samples(view, floor_now)
        if view.save_problem:
            st.warning(view.save_problem, icon=":material/sd_card_alert:")
        if view.status == runs.FAILED:
            st.error(view.error, icon=":material/error:")
        elif not view.active:
            saved = ", ".join(f"`{t.checkpoint.rsplit('/', 1)[-1]}`" for t in view.models.values() if t.saved)
            st.success(f"Saved: {saved}. Sample from it in the generation lesson.", icon=":material/save:")
        if active and not view.active:
            st.rerun()  # the whole page, so the buttons and the refresh timer follow

    panel()


def reference_lines(
    view: runs.RunView, floor: float, data: plan.TrainingData
) -> tuple[float | None, int | None]:
    """The counted bigram's loss and the vocabulary size, when the run trains on `data`'s text (the
    one chosen in lesson 1); (None, None), with a note, when it trains on another."""
    trained_on = view.text.get("dataset_sha256", data.summary["dataset_sha256"])
    if trained_on == data.summary["dataset_sha256"]:
        return floor, data.tokenizer.vocab_size
    st.info(
        f"This run trains on **{view.text.get('dataset')}**, and lesson 1's text is now "
        f"**{data.summary['dataset']}**: the chart leaves out the reference lines measured on that text.",
        icon=":material/swap_horiz:",
    )
    return None, None


def first_losses(view: runs.RunView, vocab_size: int | None) -> str:
    """Each model's measured loss at its first step, beside ln(vocab_size) when given."""
    firsts = [f"{NAMES[kind]} {t.losses[0]:.2f}" for kind, t in view.models.items() if t.losses]
    if not firsts:
        return ""
    uniform = f", against ln({vocab_size}) = {math.log(vocab_size):.2f}" if vocab_size else ""
    return f"First step's loss: {', '.join(firsts)}{uniform}."


def samples(view: runs.RunView, floor: float | None) -> None:
    """Each model's best val loss (against the counted bigram, when given), and its latest sample."""
    for col, (kind, trace) in zip(st.columns(len(view.models)), view.models.items(), strict=True):
        best = min((e["val_loss"] for e in trace.evals), default=None)
        delta = None if best is None or floor is None else f"{best - floor:+.2f} vs the counted bigram"
        col.metric(
            f"{NAMES[kind]}: best val loss",
            "–" if best is None else f"{best:.3f}",
            delta,
            delta_color="inverse",
        )
        step, sample = trace.samples[-1] if trace.samples else (0, "A sample appears at each evaluation.")
        col.caption(f"Sample at step {step:,}:" if step else "")
        col.code(sample, language=None, wrap_lines=True)


def runs_list(registry, run, data: plan.TrainingData) -> None:
    """The learner's saved checkpoints (download, continue, delete), runs a restart cut short, and the
    other runs on this server (watch)."""
    busy, saved = registry.busy_paths(), saved_runs.saved_runs(ui.USER_DIR)
    if not saved:
        st.caption(
            "Nothing saved yet. A run saves itself at every evaluation and when it ends; this list updates then."
        )
    for path, meta in saved:
        saved_run(registry, path, meta, path.resolve() in busy, data)
    for cut in registry.interrupted(ui.USER_DIR):
        st.warning(
            f"**{cut.name}** was still training when the server restarted. Its last save, at step {cut.step:,}, is "
            "kept: continue it above, or sample from it in the generation lesson.",
            icon=":material/restart_alt:",
        )
    if others := [r for r in registry.runs() if run is None or r.id != run.id]:
        with st.expander(f"Runs on this server ({len(others)})", icon=":material/dns:"):
            for other in others:
                v, cols = other.view(), st.columns([6, 1], vertical_alignment="center")
                cols[0].markdown(f"**{v.name}** · {v.status} · step {v.step:,} · {duration(v.elapsed)}")
                if other.spec.in_turn:  # a climb of the ladder: lesson 3 draws those
                    cols[1].caption("Lesson 3")
                elif cols[1].button("Watch", key=f"train_watch_{other.id}"):
                    st.session_state[RUN] = other.id
                    st.rerun()


def saved_run(registry, path, meta: dict, busy: bool, data: plan.TrainingData) -> None:
    """One saved checkpoint: what it is, and its buttons. Continuing trains it on for as long again
    from where it stopped (`plan.ContinuedSpec`); only its owner may continue or delete it."""
    s, cols = meta["summary"], st.columns([4, 1, 1, 1], vertical_alignment="center")
    loss = f" · val loss {s['val_loss']:.3f}" if isinstance(s.get("val_loss"), float) else ""
    cols[0].markdown(f"**{path.stem}** · {meta['model_type']} · {s.get('steps', '?')} steps{loss}")
    cols[1].download_button(
        "Download",
        partial(path.read_bytes),
        file_name=path.name,
        on_click="ignore",
        key=f"train_dl_{path.name}",
        mime="application/octet-stream",
        icon=":material/download:",
    )
    mine = saved_runs.owns_saved(meta, ui.viewer())
    why_not = None if mine else "Saved by another viewer: only they can change it."
    try:
        spec = plan.continued_spec(path, data)
    except plan.SpecError as e:
        spec, why_not = None, why_not or f"Cannot continue: {e}."
    if cols[2].button(
        "Continue",
        key=f"train_more_{path.name}",
        icon=":material/fast_forward:",
        disabled=busy or spec is None or not mine,
        help=why_not or "Train it on, for as long again.",
    ):
        start_run(registry, spec, data, st)
    if cols[3].button(
        "Delete",
        key=f"train_del_{path.name}",
        icon=":material/delete:",
        disabled=busy or not mine,
        help=why_not if not mine else None,
    ):
        saved_runs.delete_saved_run(path, ui.USER_DIR, registry.busy_paths(), owner=ui.viewer())
        st.rerun()
