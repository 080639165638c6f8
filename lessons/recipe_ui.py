"""Streamlit components of the training lesson that explain what a step does: the lecture's five lines
beside the library's own step, and the selected preset's optimizer, schedule and clipping (with Muon
explained), all derived from the settings that will run (`course.recipe`)."""

import streamlit as st

from course import plan, recipe
from lessons import ui
from tinygpt.optim import Muon, configure_optimizer, orthogonalize
from tinygpt.train import _train_step

LECTURE_STEP = """xb, yb = get_batch('train')  # a batch: B rows of T characters
logits, loss = model(xb, yb)  # forward: how wrong it was
optimizer.zero_grad(set_to_none=True)  # forget old gradients
loss.backward()  # backward: every weight's gradient
optimizer.step()  # move every weight a little"""


def training_step() -> None:
    """The lecture's five lines beside the library's own step function."""
    left, right = st.columns(2)
    with left:
        st.markdown("The lecture's loop body, from its `gpt.py` (the comments are ours):")
        st.code(LECTURE_STEP, language="python")
        st.markdown(
            "`_train_step` does the same five things: `get_batch`, the forward pass to the loss, `zero_grad`, "
            "`backward`, `step`. Around them: the batch split between processes and micro-batches "
            "(`grad_accum`), autocast for bf16, and clipping the gradients before the step when the recipe asks."
        )
    with right:
        st.code(ui.source_of(_train_step), language="python")


def recipe_notes(spec: plan.RunSpec) -> None:
    """What this run's optimizer, schedule and clipping are, Muon explained, and the departures from
    the lecture, all derived from `spec`."""
    cfg = spec.train
    bigram = f" The bigram, one table, trains with AdamW at {spec.bigram_lr:g} without weight decay."
    st.markdown(
        f"**With these settings ({spec.preset}):** {recipe.recipe_sentence(cfg)}"
        + (bigram if "bigram" in spec.models else "")
    )
    if cfg.optimizer == "muon":
        st.markdown(
            "**Muon** keeps a running average (momentum) of each weight matrix's gradient, as SGD with "
            "momentum does. Then, before stepping, it replaces that update with the nearest orthogonal "
            "matrix: a few Newton–Schulz iterations push all of its singular values to about 1. A raw "
            "gradient is dominated by a few directions; the orthogonalised update moves every direction of "
            "the matrix by the same amount, so directions that rarely get a gradient learn too, and the loss "
            "falls in fewer steps (docs/training.md measures it). Muon is made for 2-D matrices: the "
            "embeddings, the LM head, biases and LayerNorms stay on AdamW."
        )
        ui.show_source(
            configure_optimizer,
            Muon.step,
            Muon._momentum,
            orthogonalize,
            label="Show the code: which weights go to Muon, and Muon itself",
        )
    away = recipe.departures(spec.gpt, cfg)
    st.caption(
        "Where this departs from the lecture's `gpt.py`: " + "; ".join(away) + "."
        if away
        else "The model's build, optimizer, schedule, clipping and precision are the lecture's; "
        "docs/training.md lists the small differences that remain."
    )
