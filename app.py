"""TinyGPT: build a GPT from scratch, one interactive lesson at a time.

Entry point: page config, navigation over the lessons in `lessons/`, nothing else.
Run with `streamlit run app.py`.

The lessons live in `lessons/`, not `pages/`: Streamlit still auto-discovers a folder named `pages/`
for the first request of a fresh server, so a deep link such as /attention would run one page alone,
outside this navigation.
"""

from pathlib import Path

import streamlit as st

from lessons.ui import LESSONS

st.set_page_config(
    page_title="TinyGPT", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"), layout="wide"
)
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon) in enumerate(LESSONS)
]
st.navigation(pages).run()
