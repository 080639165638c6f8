"""Lesson 3: race the bigram against a Transformer on the same text, live. Planning (validation,
memory, time per step) is in `tinygpt.plan`; the run is a background job from `tinygpt.jobs`, so a
rerun, a page switch or a reload never stops it; the chart and tables are `lessons.training_view`."""

from functools import partial

import streamlit as st

from course import plan, runs
from course.figures.training import NAMES, loss_figure, parameter_frame
from course.plan import widget_defaults
from course.text import duration
from lessons.ui import USER_DIR, current_text, next_lesson, show_source
from tinygpt.device import best_device, configure_threads, describe_device
from tinygpt.gpt import PRESETS
from tinygpt.train import configure_optimizer, get_lr, train

REFRESH = 1.0  # seconds between redraws of a running job (bench/bench_race.py measures its cost)
RUN, OWNED = "train_run_id", "train_owned"
WHAT = {"race": ("bigram", "gpt"), "gpt": ("gpt",), "bigram": ("bigram",)}
WHAT_LABELS = {"race": "Race both", "gpt": "Transformer only", "bigram": "Bigram only"}
PERSIST = dict(persist_state="session")  # the settings survive a visit to another lesson
COLUMNS = {
    "parameters": st.column_config.NumberColumn(format="localized"),
    "share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
}


@st.cache_resource(show_spinner="Encoding the text…", max_entries=2)
def training_data(name: str, text: str) -> plan.TrainingData:
    return plan.TrainingData.from_text(text, name)


@st.cache_data(show_spinner=False, max_entries=4)
def bigram_floor(name: str, text: str) -> float:
    return plan.bigram_floor(training_data(name, text))


@st.cache_data(show_spinner="Timing a few real training steps on this device…", max_entries=32)
def step_time(_spec: plan.RunSpec, _data: plan.TrainingData, key: str) -> plan.StepTime:
    return plan.time_per_step(_spec, _data)


def apply_preset() -> None:
    for k, v in widget_defaults(st.session_state.train_preset).items():
        st.session_state[f"train_{k}"] = v


def number(col, label: str, key: str, lo, hi, **kwargs):
    return col.number_input(label, lo, hi, key=f"train_{key}", **PERSIST, **kwargs)


st.title("3 · Train: bigram vs Transformer")
st.markdown(
    "Two models learn the same text from the same batches. The **bigram** predicts the next character "
    "from the current one alone, so no amount of training takes it below a floor. The **Transformer** "
    "attends to the whole block of characters before it: watch its validation loss cross that floor, "
    "and its samples turn from gibberish into something that looks like a play."
)
name, text = current_text()
if text is None:
    st.stop()
data, reg, floor = training_data(name, text), runs.shared_registry(), bigram_floor(name, text)
st.session_state.setdefault(OWNED, set())
job = reg.get(st.session_state.get(RUN))
if job is None and (job := reg.get(st.query_params.get("run"))) is not None:  # a reload: the URL keeps the id
    st.session_state[OWNED].add(job.id)
if job is not None:
    st.session_state[RUN] = st.query_params["run"] = job.id
mine_active = job is not None and job.id in st.session_state[OWNED] and job.status in runs.ACTIVE

# ---- settings ------------------------------------------------------------------------------------
for k, v in {**widget_defaults("cpu"), "preset": "cpu", "what": "race"}.items():
    st.session_state.setdefault(f"train_{k}", v)
left, right = st.columns([3, 2])
what = left.segmented_control(
    "What to train", list(WHAT), format_func=WHAT_LABELS.get, key="train_what", required=True, **PERSIST
)
preset = right.selectbox(
    "Preset",
    list(PRESETS),
    key="train_preset",
    on_change=apply_preset,
    **PERSIST,
    help="cpu: learns in a minute on 2 cores. lecture: the lecture's 10.8M model, for a GPU.",
)
with st.expander("Hyperparameters", expanded=True, icon=":material/tune:"):
    c, off = st.columns(5), what == "bigram"
    values = {
        "n_layer": number(c[0], "Layers", "n_layer", 1, 48, disabled=off),
        "n_head": number(c[1], "Heads", "n_head", 1, 64, disabled=off),
        "n_embd": number(c[2], "Embedding size", "n_embd", 1, 4096, disabled=off),
        "block_size": number(c[3], "Block size", "block_size", 1, 8192, help="Characters of context."),
        "dropout": number(c[4], "Dropout", "dropout", 0.0, 0.9, step=0.05, disabled=off),
        "batch_size": number(c[0], "Batch size", "batch_size", 1, 4096),
        "learning_rate": number(
            c[1],
            "Learning rate",
            "learning_rate",
            1e-5,
            1.0,
            step=1e-4,
            format="%.4f",
            help=f"The Transformer's peak rate. The bigram, a single table, uses {plan.BIGRAM_LR:g}.",
        ),
        "eval_interval": number(c[2], "Evaluate every", "eval_interval", 1, 100_000, help="Steps."),
    }
    budget = c[3].radio("Stop after", ["seconds", "steps"], key="train_budget", horizontal=True, **PERSIST)
    if budget == "seconds":
        values |= {"max_steps": None, "max_seconds": number(c[4], "Seconds", "max_seconds", 1.0, 86_400.0)}
    else:
        values |= {"max_seconds": None, "max_steps": number(c[4], "Steps", "max_steps", 1, 1_000_000)}
spec, problems = None, []
try:
    spec = plan.make_spec(WHAT[what], data.tokenizer.vocab_size, preset, **values)
    problems = plan.check_spec(spec, data)
except plan.SpecError as e:
    problems = e.problems

# ---- before starting: size, device, speed -------------------------------------------------------
left, right = st.columns([3, 2])
configure_threads()  # the threads a job will use, so the description and the timing match it
facts = [
    f"**Device:** {describe_device(best_device())}",
    f"**Text:** {name}, {len(text):,} characters, {data.tokenizer.vocab_size} distinct",
]
if problems:
    reasons = "\n".join(f"- {p}" for p in problems)
    left.error(f"**These settings can't train yet:**\n\n{reasons}", icon=":material/block:")
else:
    table = parameter_frame(spec)
    left.dataframe(table, hide_index=True, column_config=COLUMNS)
    totals = table.groupby("model", sort=False)["parameters"].sum()
    facts += [
        f"**Parameters:** {' · '.join(f'{k} {v:,}' for k, v in totals.items())}",
        f"**Memory for a step:** about {plan.estimate_memory(spec) / 2**20:,.0f} MiB",
    ]
    if not mine_active:  # timing steps now would slow the run and measure a busy machine
        timing_key = f"{spec.models}{spec.gpt}{spec.train.batch_size}"  # all that a step's time depends on
        est = step_time(spec, data, timing_key)
        scaled = f" (timed at batch {est.timed_batch}, scaled up)" if est.timed_batch < est.batch_size else ""
        facts.append(
            f"**Time per step:** about {est.seconds * 1000:,.0f} ms{scaled}: ~{60 / est.seconds:,.0f} "
            f"steps a minute, {est.tokens_per_sec:,.0f} characters/s"
        )
        if spec.train.max_steps:
            total = duration(spec.train.max_steps * est.seconds)
            facts.append(f"**{spec.train.max_steps:,} steps:** about {total} plus evaluations")
right.markdown("  \n".join(facts))

# ---- start / stop ------------------------------------------------------------------------------
left, right = st.columns([1, 4], vertical_alignment="center")
if mine_active:
    if left.button(
        "Stop", icon=":material/stop:", key="train_stop", help="Evaluates and saves what it learned."
    ):
        job.stop()
elif left.button(
    "Start training", "train_start", type="primary", icon=":material/play_arrow:", disabled=bool(problems)
):
    try:
        job = reg.start(spec, data, USER_DIR)
        st.session_state[OWNED].add(job.id)
        st.session_state[RUN] = st.query_params["run"] = job.id
        st.rerun()
    except runs.TooManyRuns as e:
        right.warning(str(e), icon=":material/hourglass_top:")
if job is not None and job.id not in st.session_state[OWNED]:
    right.caption(f"Watching **{job.name}**, started in another browser session.")


@st.fragment(run_every=REFRESH if job is not None and job.status in runs.ACTIVE else None)
def live(job_id: str, was_active: bool) -> None:
    """The job's record as it is now; redrawn every REFRESH seconds while it runs."""
    view = reg.get(job_id).view()
    total = f" / {view.spec.train.max_steps:,}" if view.spec.train.max_steps else ""
    st.progress(view.progress, text=f"**{view.name}**: {view.status}, step {view.step:,}{total}")
    for col, (label, value) in zip(
        st.columns(4),
        [
            ("Steps/s", f"{view.steps_per_sec:.1f}"),
            ("Characters/s", f"{view.tokens_per_sec:,.0f}"),
            ("Elapsed", duration(view.elapsed)),
            ("Time left", duration(view.eta)),
        ],
        strict=True,
    ):
        col.metric(label, value)
    by = st.segmented_control("x axis", ["step", "time"], default="step", key="train_x", required=True)
    st.plotly_chart(loss_figure(view, floor, by), key="train_chart", config={"displayModeBar": False})
    st.caption(
        f"Thin: each batch's loss, smoothed. Dotted and bold: train and val loss on {view.spec.train.eval_iters} "
        "fixed batches at each evaluation. Dashed: the best any bigram can do, counted from the training text."
    )
    for col, (kind, trace) in zip(st.columns(len(view.models)), view.models.items(), strict=True):
        best = min((e["val_loss"] for e in trace.evals), default=None)
        col.metric(
            f"{NAMES[kind]}: best val loss",
            "–" if best is None else f"{best:.3f}",
            delta_color="inverse",
            delta=None if best is None else f"{best - floor:+.2f} vs the bigram floor",
        )
        step, sample = trace.samples[-1] if trace.samples else (0, "A sample appears at each evaluation.")
        col.caption(f"Sample at step {step:,}:" if step else "")
        col.code(sample, language=None, wrap_lines=True)
    if view.status == runs.FAILED:
        st.error(view.error, icon=":material/error:")
    elif not view.active:
        saved = ", ".join(f"`{t.checkpoint.rsplit('/', 1)[-1]}`" for t in view.models.values() if t.saved)
        st.success(f"Saved: {saved}. Sample from it in lesson 4.", icon=":material/save:")
    if was_active and not view.active:
        st.rerun()  # the whole page, so the buttons and the refresh timer follow


if job is not None:
    live(job.id, job.status in runs.ACTIVE)

# ---- saved runs and other runs on this server ---------------------------------------------------
st.subheader("Your saved runs")
busy, saved = reg.busy_paths(), runs.saved_runs(USER_DIR)
if not saved:
    st.caption(
        "Nothing saved yet. A run saves itself at every evaluation and when it ends; this list updates then."
    )
for path, meta in saved:
    s, cols = meta["summary"], st.columns([4, 1, 1], vertical_alignment="center")
    loss = f" · val loss {s['val_loss']:.3f}" if isinstance(s.get("val_loss"), float) else ""
    cols[0].markdown(f"**{path.stem}** · {meta['model_type']} · {s.get('steps', '?')} steps{loss}")
    cols[1].download_button(
        "Download",
        partial(path.read_bytes),
        file_name=path.name,
        key=f"train_dl_{path.name}",
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
    )
    if cols[2].button(
        "Delete", key=f"train_del_{path.name}", icon=":material/delete:", disabled=path.resolve() in busy
    ):
        runs.delete_saved_run(path, USER_DIR, busy)
        st.rerun()
if others := [j for j in reg.runs() if job is None or j.id != job.id]:
    with st.expander(f"Runs on this server ({len(others)})", icon=":material/dns:"):
        for other in others:
            v, cols = other.view(), st.columns([6, 1], vertical_alignment="center")
            cols[0].markdown(f"**{v.name}** · {v.status} · step {v.step:,} · {duration(v.elapsed)}")
            if cols[1].button("Watch", key=f"train_watch_{other.id}"):
                st.session_state[RUN] = other.id
                st.rerun()

st.markdown(
    "**Under the hood.** Each step draws a random batch, runs the model forward to get the loss, "
    "backpropagates, clips the gradient and lets AdamW move the weights; the learning rate warms up, "
    "then decays along a cosine. Every few steps the loop pauses to measure the loss on held-out text "
    "(*val*): when train keeps falling but val does not, the model has started to memorise."
)
show_source(train, get_lr, configure_optimizer)
next_lesson("lessons/4_training.py")
