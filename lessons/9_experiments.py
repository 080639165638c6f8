"""Lesson 9: the extensions from-scratch GPT projects list as "what to try next", each a switch
trained against the baseline, fairly: the same characters, scored in bits per character on the same
validation text. Components in `lessons.experiments_ui`; the experiment is `course.experiments`."""

import streamlit as st

from course import experiments, runs
from lessons import experiments_ui, training_ui, ui
from tinygpt.data import bits_per_char, split_text

PAGE = "lessons/9_experiments.py"

ui.header(
    PAGE,
    "The projects this course follows end with a list of things to try: other tokenizers, tied embeddings, "
    "RMSNorm, the 2017 paper's post-norm, dropout, a longer context. Here each is a switch: train it against "
    "the baseline (lesson 4's Transformer) and see whether it helps at this scale.",
)
name, text = ui.current_text()
if text is None:
    st.stop()

st.subheader("A fair comparison")
st.markdown(
    "A loss per token means different things for different tokenizers: predicting a whole word is harder than "
    "predicting one character. So every model here is scored in **bits per character** on the same validation "
    "text, the last 10% of the characters: its loss in nats per token, divided by ln 2, divided by how many "
    "characters its tokens hold on average. For a character model that is just the loss / ln 2. Both models "
    "read the same number of training characters in the same number of steps, from the same seed: a model "
    "whose tokens hold more characters, or whose context is longer, gets fewer rows per batch. A word model "
    "reads every rare word as one unknown token; predicting that token says nothing about the word's letters, "
    "so their cost is added: each one spelled out at its frequency in the training text."
)
ui.show_source(bits_per_char, split_text, experiments.make_arm, experiments.spelling_bpc)

st.subheader("The answer, without waiting")
experiments_ui.table(name)

st.subheader("Try one yourself")
st.caption(
    f"On **{name}**, the text chosen in lesson 1 (upload your own there, or pick the sample server logs)."
)
registry = runs.shared_registry()
run = experiments_ui.attached(registry)
data = training_ui.training_data(name, text)
spec = experiments_ui.choose(name, text, data)
if spec is not None:
    experiments_ui.plan(spec)
    experiments_ui.start_stop(registry, run, spec, data)
if run is not None:
    experiments_ui.live(registry, run.id, name)
ui.next_lesson(PAGE)
