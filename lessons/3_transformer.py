"""Lesson 3: build the Transformer up one piece at a time, the lecture's ladder from the bigram to
rung 6, each rung a config of the library's own GPT trained on the same batches; then go back down.
The shipped staircase shows at once; a learner's own climb trains in the background. Logic in
course/ladder.py, figures in course/figures/ladder.py, components in lessons/transformer_ui.py."""

import streamlit as st

from course import ladder
from course.figures import ladder as figures
from course.rungs import CLIMB, rung_config, rung_train_config
from lessons import transformer_ui, ui

PAGE = "lessons/3_transformer.py"

ui.header(
    PAGE,
    "The attention trick gives each character a way to read the ones before it. A Transformer is that "
    "head plus a handful of other pieces, and the lecture adds them **one at a time**, retraining after "
    "each, to see the validation loss step down. Every rung here is this project's own GPT with some of "
    "its pieces switched off, trained from scratch on the same batches at the lecture's small settings.",
)
stairs, top = transformer_ui.load_shipped()
if stairs is None:
    st.stop()

st.subheader("The staircase")
ui.plot(figures.staircase_figure(stairs, top), "ladder_staircase")
st.caption(
    f"Each rung trained from scratch: {transformer_ui.settings_note(stairs.settings)}. Bars span the "
    f"{len(stairs.seeds)} seeds. Diamonds: the lecture's numbers. Rung 7 is the shipped model. "
    f"Made with `{stairs.command}`."
)
st.markdown(
    "Watch the **gap** between the dotted train line and the val line: the small models generalise "
    "almost perfectly, then, as rungs 5 and 6 add capacity, train loss starts to pull ahead. That gap "
    "is what the lecture's dropout is for when it scales up."
)

st.subheader("Rung by rung")
i = st.select_slider(  # by index: rungs 1-6 of the climb, then 7, the shipped model
    "Rung",
    list(range(len(CLIMB) + 1)),
    value=0,
    format_func=lambda i: figures.label(CLIMB[i].key) if i < len(CLIMB) else figures.TOP,
    key="ladder_rung",
)
transformer_ui.rung_card(i + 1, stairs, top)

st.subheader("Climb it yourself")
st.markdown(
    "Train the ladder on this server, one rung after another, and watch your staircase fill in beside "
    "the shipped one. A run goes on in the background: switch lessons and come back, it is still there. "
    "It uses Tiny Shakespeare and the settings above, so the two compare."
)
left, mid, right = st.columns([2, 2, 1], vertical_alignment="bottom")
what = left.selectbox(
    "What to train",
    ["all", *(r.key for r in CLIMB)],
    format_func=lambda k: "the whole ladder, rungs 1–6" if k == "all" else f"rung {figures.label(k)}",
    key="ladder_what",
)
steps = mid.select_slider("Steps per rung", ladder.LIVE_STEPS, value=1000, key="ladder_steps")
chosen = tuple(r.key for r in CLIMB) if what == "all" else (what,)
transformer_ui.start_button(chosen, steps, "Climb", "ladder_climb", right)
transformer_ui.live(stairs, top, descent=False)

st.subheader("And back down")
st.markdown(
    "Now take the full model (rung 6 at the lecture's depth, six blocks) and remove **one** piece. "
    "Which ones can it not do without?"
)
removal = st.segmented_control(
    "Remove",
    ladder.DESCENT_KEYS,
    default="no-residual",
    format_func=figures.SHORT.get,
    key="ladder_removal",
    required=True,
)
ui.plot(figures.descent_figure(stairs, removal), "ladder_descent")
transformer_ui.descent_card(removal, stairs)
left, right = st.columns([4, 1], vertical_alignment="bottom")
down_steps = left.select_slider(
    "Steps",
    ladder.LIVE_STEPS,
    value=1000,
    key="ladder_down_steps",
    help="Six blocks: about twice rung 6's time.",
)
transformer_ui.start_button((removal,), down_steps, "Train it", "ladder_down", right)
transformer_ui.live(stairs, top, descent=True, chosen=removal)

st.markdown(
    "**Under the hood.** A rung is a `GPTConfig`: the ladder's shape (block 8, n_embd 32, no dropout, "
    "PyTorch's default initialisation, as in the video) plus the rung's switches. Every rung trains "
    "through the same `train()` loop as the training lesson, with the lecture's constant learning rate, AdamW's "
    "defaults and the same seed, so every rung sees the same batches in the same order."
)
ui.show_source(rung_config, rung_train_config)
ui.next_lesson(PAGE)
