"""The training lesson in a real browser: a tiny race starts, its live chart grows by itself (the
`run_every` fragment refreshing, with no click in between), the run stops and is saved."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot
from playwright.sync_api import expect

from course import runs
from lessons.ui import TRAINING, lesson

pytestmark = pytest.mark.browser

VAL_POINTS = """(n) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const trace = (gd.data || []).find((t) => t.name === 'Transformer: val');
    if (trace && trace.x && trace.x.length > n) return true;
  }
  return false;
}"""
COUNT_VAL_POINTS = VAL_POINTS.replace("return true", "return trace.x.length").replace(
    "return false", "return 0"
)


def test_a_race_updates_live_stops_and_is_saved(streamlit_server, page, console_errors, runs_dir):
    page.set_viewport_size({"width": 1400, "height": 2300})
    page.goto(streamlit_server)
    title = lesson(TRAINING).title
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Time per step:")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Start training")).to_be_enabled(timeout=30_000)
    screenshot(page, "training-before-start")

    page.locator(".st-key-train_preset").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="tiny").click()
    steps = page.locator(".st-key-train_max_steps input")
    expect(steps).to_be_visible(timeout=30_000)
    steps.fill("100000")
    steps.press("Enter")
    expect(steps).to_have_value("100000")
    page.get_by_role("button", name="Start training").click()

    page.wait_for_function(VAL_POINTS, arg=1, timeout=120_000)
    seen = page.evaluate(COUNT_VAL_POINTS, 0)
    page.wait_for_function(VAL_POINTS, arg=seen + 2, timeout=120_000)  # grows with no interaction
    expect(page.get_by_text("running, step")).to_be_visible()
    screenshot(page, "training-live")

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("stopped, step")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Saved:")).to_be_visible(timeout=30_000)
    assert len(list(runs_dir.glob("*.safetensors"))) == 2
    screenshot(page, "training-stopped")
    assert_no_streamlit_exception(page)
    assert not [
        e for e in console_errors if "fonts.gstatic.com" not in e and "Failed to load resource" not in e
    ]


@pytest.fixture(autouse=True)
def no_job_left_running():
    yield
    # the server runs in another process; its jobs end with it. This guards jobs started in-process.
    runs.shared_registry().stop_all()
