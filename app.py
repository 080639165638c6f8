"""TinyGPT: build a GPT from scratch, one interactive lesson at a time.

Entry point: page config, navigation over the lessons in `lessons/`, nothing else.
Run with `streamlit run app.py`.

The lessons live in `lessons/`, not `pages/`: Streamlit still auto-discovers a folder named `pages/`
for the first request of a fresh server, so a deep link such as /attention would run one page alone,
outside this navigation.
"""

import os
from pathlib import Path

# Before torch loads: OpenMP threads that spin while they wait collapse when anything else wants the
# same cores (the browser, the web server, a second run). On 2 busy cores a test took 67 s with
# spinning threads and 4 s with passive ones; see docs/benchmarks.md for the idle-machine cost.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from lessons.common import LESSONS  # noqa: E402

st.set_page_config(
    page_title="TinyGPT", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"), layout="wide"
)
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon) in enumerate(LESSONS)
]
st.navigation(pages).run()
