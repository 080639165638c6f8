"""Lesson 4: race the bigram against a Transformer on the same text, live. The settings, the plan and
the run panel are components in `lessons.training_ui`; the run itself is a background run from
`course.runs`, so a rerun, a page switch or a reload never stops it."""

import streamlit as st

from course import runs
from lessons import training_ui, ui
from tinygpt.bigram import BigramLM
from tinygpt.gpt import GPT
from tinygpt.optim import configure_optimizer
from tinygpt.train import estimate_loss, get_lr, train

PAGE = "lessons/4_training.py"

ui.header(
    PAGE,
    "Two models learn the same text from the same batches. The **bigram** predicts the next character from "
    "the current one alone, so its loss levels off near a floor. The **Transformer** attends to "
    "the whole block of characters before it: watch its validation loss cross that floor, and its samples "
    "turn from gibberish into something that looks like a play.",
)
name, text = ui.current_text()
if text is None:
    st.stop()
data, registry = training_ui.training_data(name, text), runs.shared_registry()
floor, run = training_ui.bigram_floor(name, text), training_ui.attached_run(registry)

spec, problems = training_ui.settings(data)
st.caption(
    "The `cpu` preset is sized so that, on a 2-core laptop CPU, the Transformer passes the bigram within "
    "its minute of training. The `lecture` preset is the lecture's 10.8M-parameter model: it needs a GPU "
    "(on a CPU it takes hours to get that far)."
)
training_ui.plan_facts(spec, problems, data, busy=training_ui.owns_active(run))
ui.show_source(BigramLM, GPT.forward, label="Show the code: the two models, and where the loss is computed")
training_ui.start_stop(registry, run, spec, data, problems)
if run is not None:
    training_ui.live(registry, run.id, floor, data.tokenizer.vocab_size)

st.subheader("Your saved runs")
training_ui.runs_list(registry, run, data)

st.markdown(
    "**Under the hood.** Each step draws a random batch, runs the model forward to get the loss, "
    "backpropagates, clips the gradient and lets AdamW move the weights; the learning rate warms up, "
    "then decays along a cosine. Every few steps the loop pauses to measure the loss on held-out text "
    "(*val*), averaged over many batches, since a single batch's loss is noisy: when train keeps falling "
    "but val does not, the model has started to memorise. A model that knows nothing guesses each of the "
    f"{data.tokenizer.vocab_size} characters equally, a loss of ln({data.tokenizer.vocab_size}): "
    "that is where every Transformer starts."
)
st.caption(
    "Where this departs from the lecture's `gpt.py`: AdamW here has weight decay 0.1 and betas (0.9, 0.99), "
    "the learning rate warms up then follows a cosine (the lecture keeps it constant at 3e-4), gradients are "
    "clipped at norm 1, and the model uses GELU and no biases, as nanoGPT does. Each makes training steadier."
)
ui.show_source(train, get_lr, configure_optimizer, estimate_loss)
ui.next_lesson(PAGE)
