"""The "Build the Transformer" lesson in a real browser: the shipped staircase and the block diagram
draw at once, the rung slider redraws the diagram, and a live climb fills in its own staircase by
itself (the `run_every` fragment refreshing, with no click in between), then stops on request."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect

from course import runs

pytestmark = pytest.mark.browser

TITLE = "3 · Build the Transformer"
CLIMB_POINTS = """(n) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const trace = (gd.data || []).find((t) => t.name === 'your climb: val');
    if (trace && trace.x && trace.x.length >= n) return true;
  }
  return false;
}"""


def test_the_staircase_the_diagram_and_a_live_climb(streamlit_server, page, console_errors, runs_dir):
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name=f"Lesson {TITLE}")).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    diagram = page.get_by_test_id("stGraphVizChart")
    expect(diagram.locator("svg")).to_be_visible(timeout=30_000)
    expect(diagram).to_contain_text("65 × 65")
    wait_for_idle(page)
    screenshot(page, "transformer-first-visit")

    slider = page.locator(".st-key-ladder_rung").get_by_role("slider")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    wait_for_idle(page)
    expect(diagram).to_contain_text("block × 3", timeout=30_000)
    expect(page.get_by_text("41,280", exact=True)).to_be_visible()

    page.locator(".st-key-ladder_steps").get_by_role("slider").focus()
    page.keyboard.press("Home")  # 500 steps a rung
    wait_for_idle(page)
    page.get_by_role("button", name="Climb").click()
    page.wait_for_function(CLIMB_POINTS, arg=1, timeout=180_000)
    page.wait_for_function(CLIMB_POINTS, arg=3, timeout=240_000)  # grows with no interaction
    expect(page.get_by_text("running,")).to_be_visible()
    screenshot(page, "transformer-climbing")
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("stopped,")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Climb")).to_be_visible(timeout=30_000)
    assert not list(runs_dir.iterdir())  # a climb keeps no checkpoints

    slider.focus()
    slider.press("End")  # rung 7, from the shipped model
    expect(page.get_by_text("1.499", exact=True)).to_be_visible(timeout=60_000)
    expect(diagram).to_contain_text("block × 4, dropout 0.1")
    wait_for_idle(page)
    screenshot(page, "transformer-rung-7")
    assert_no_streamlit_exception(page)
    assert not [
        e for e in console_errors if "fonts.gstatic.com" not in e and "Failed to load resource" not in e
    ]


@pytest.fixture(autouse=True)
def no_run_left_running():
    yield
    runs.shared_registry().stop_all()  # guards runs started in-process; the server's end with it
