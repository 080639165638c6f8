"""Home: what the learner will build, and what this machine has ready."""

import streamlit as st

from lessons import ui
from tinygpt import corpus
from tinygpt.device import best_device, describe_device, training_threads

st.title("TinyGPT: build a GPT from scratch")
st.markdown(
    f"""
{len(ui.LESSONS) - 1} lessons take you from a text file to a Transformer that writes Shakespeare-like text,
following Andrej Karpathy's *Let's build GPT* lecture. You don't read about each step — you **run** it:
every chart on these pages comes from the real PyTorch code in the `tinygpt/` library, which you can open
beside it.

**The path:** characters → integers → a **bigram** model that looks at one character → the **attention
trick** that lets every position look at the past → a **Transformer**, which on a laptop CPU passes the
bigram within a minute of training (the `cpu` preset) → **sampling** text from it.
"""
)

cols = st.columns(len(ui.LESSONS) - 1)
for col, (path, title, icon) in zip(cols, ui.LESSONS[1:], strict=True):
    with col.container(border=True):
        st.page_link(path, label=title, icon=icon)

st.subheader("This machine")
left, middle, right = st.columns(3)
device = best_device()
left.metric("Training device", device.upper())
left.caption(describe_device(device, training_threads()))  # what training gets, not this page's 1
ready, local = corpus.dataset_ready(), corpus.local_data_path()
middle.metric("Tiny Shakespeare", "ready" if ready else "not found" if local else "not downloaded")
if ready:
    middle.caption("Found locally; no download needed.")
elif local:
    middle.caption(f"TINYGPT_DATA points at `{local}`, which does not exist. Fix the path or unset it.")
else:
    middle.caption("It is downloaded (1.1 MB) the first time you open the dataset lesson.")
if (chosen := st.session_state.get(ui.DATASET_NAME_KEY, ui.SHAKESPEARE)) != ui.SHAKESPEARE:
    middle.caption(f"The lessons use **{chosen}** (chosen in lesson 1).")
found = ui.checkpoint_choices()
right.metric("Checkpoints", len(found))
right.caption("\n\n".join(ui.checkpoint_label(p, m) for p, m in found) or "Train one in the training lesson.")

ui.link(ui.LESSONS[1].path, "Start with lesson 1: the dataset")
