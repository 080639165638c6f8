"""Lesson 4: race the bigram against a Transformer on the same text, live. The settings, the plan and
the run panel are components in `lessons.training_ui`; the run itself is a background run from
`course.runs`, so a rerun, a page switch or a reload never stops it."""

import streamlit as st

from course import plan, runs
from lessons import recipe_ui, training_ui, ui
from tinygpt.bigram import BigramLM
from tinygpt.gpt import GPT
from tinygpt.optim import configure_optimizer
from tinygpt.train import estimate_loss, get_lr, train

PAGE = "lessons/4_training.py"

name, text = ui.current_text()
ui.header(
    PAGE,
    "Two models learn the same text from the same batches. The **bigram** predicts the next character from "
    "the current one alone, so its loss levels off near a floor. The **Transformer** attends to "
    "the whole block of characters before it: watch its validation loss cross that floor, and its samples "
    f"turn from gibberish into something that looks like the text they read: **{name}**, chosen in lesson 1.",
)
if text is None:
    st.stop()
data, registry = training_ui.training_data(name, text), runs.shared_registry()
floor, run = training_ui.bigram_floor(name, text), training_ui.attached_run(registry)

spec, problems = training_ui.settings(data)
st.caption(
    "The `cpu` preset is sized so that, on a 2-core laptop CPU, the Transformer passes the bigram within "
    "its minute of training. `lecture` and `lecture-exact` have the lecture's 10.8M-parameter shape "
    "(`lecture-exact` is its model and recipe exactly): they need a GPU (on a CPU they take hours to get that far)."
)
training_ui.plan_facts(spec, problems, data, busy=training_ui.owns_active(run))
ui.show_source(BigramLM, GPT.forward, label="Show the code: the two models, and where the loss is computed")
training_ui.start_stop(registry, run, spec, data, problems)
if run is not None:
    training_ui.live(registry, run.id, floor, data)

st.subheader("Your saved runs")
training_ui.runs_list(registry, run, data)

st.subheader("Under the hood: one training step")
recipe_ui.training_step()
recipe_ui.recipe_notes(
    spec or plan.make_spec(("gpt",), data.tokenizer.vocab_size, st.session_state.train_preset)
)
st.markdown(
    "Every few steps the loop pauses to measure the loss on held-out text (*val*), averaged over many "
    "batches, since a single batch's loss is noisy: when train keeps falling but val does not, the model has "
    "started to memorise. Unlike the lecture, which draws fresh batches at every evaluation, `estimate_loss` "
    "draws the same batches each time, so two evaluations differ only by what the model learned. A model that "
    f"knows nothing guesses each of the {data.tokenizer.vocab_size} characters equally, a loss of "
    f"ln({data.tokenizer.vocab_size}). The Transformers here start close to it: their weights start small "
    "(N(0, 0.02)), so every logit starts near 0. The bigram's table starts from N(0, 1), so its first "
    "guesses are confidently wrong and its first loss is higher; the chart's caption gives each first loss."
)
ui.show_source(train, get_lr, configure_optimizer, estimate_loss)
ui.next_lesson(PAGE)
