"""TinyGPT: build a GPT from scratch, one interactive lesson at a time.

Entry point: page config, one torch thread per page run, navigation over the lessons in `lessons/`.
Run with `streamlit run app.py`.

The lessons live in `lessons/`, not `pages/`: Streamlit still auto-discovers a folder named `pages/`
for the first request of a fresh server, so a deep link such as /attention would run one page alone,
outside this navigation.
"""

from pathlib import Path

import streamlit as st

from lessons.ui import LESSONS
from tinygpt.device import use_threads

st.set_page_config(
    page_title="TinyGPT", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"), layout="wide"
)
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon) in enumerate(LESSONS)
]
# Every run of a page computes on one torch thread: its tensors are small (8x8 demos, one prompt
# through the GPT), and two OpenMP threads on a busy server wait for each other at every op.
# Measured on 2 cores with a browser drawing: lesson 2's rerun 0.61 s -> 0.13 s (median of 15).
# A page that times training steps sets its own thread to the training threads (use_threads()).
use_threads(1)
st.navigation(pages).run()
