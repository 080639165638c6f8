"""The attention lesson in a real browser: reach it through the navigation, move a slider, check that
the charts redraw, and that there is no exception box or console error. Leaves a full-page screenshot
in test-artifacts/attention.png."""

import shutil

import pytest
from conftest import assert_no_streamlit_exception, screenshot
from playwright.sync_api import expect

from lessons.ui import lesson

pytestmark = pytest.mark.browser

# app.py's material-icon favicon is fetched from Google's font server, which offline machines can't reach.
FAVICON_HOST = "fonts.gstatic.com"


def test_attention_page_in_browser(streamlit_server, page, console_errors, runs_dir, tiny_checkpoint):
    shutil.copy(tiny_checkpoint, runs_dir / "tiny-gpt.safetensors")
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(streamlit_server)
    nav = page.get_by_test_id("stSidebarNavItems")  # the home page links to the lessons too
    nav.get_by_role("link", name=lesson("lessons/2_attention.py").title).click()
    expect(page.get_by_role("heading", name="The attention trick")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("x: 8 steps × 8 channels")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("layer 0, head 0: row t attends to column s")).to_be_attached(timeout=30_000)

    slider = page.locator("input[type=range]").first  # T, in the sidebar
    slider.focus()
    slider.press("ArrowRight")
    expect(slider).to_have_value("9")
    expect(page.get_by_text("x: 9 steps × 8 channels")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The three outputs agree")).to_be_visible()
    slider.press("ArrowLeft")  # back to the defaults for the screenshot
    expect(page.get_by_text("x: 8 steps × 8 channels")).to_be_visible(timeout=30_000)
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 15

    # Streamlit scrolls inside its main block, so grow the window to photograph the whole lesson.
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": height + 100})
    page.wait_for_timeout(1500)  # let plotly finish drawing
    assert_no_streamlit_exception(page)
    screenshot(page, "attention")
    offline_favicon = all(FAVICON_HOST in url for url in failed)
    errors = [e for e in console_errors if not (offline_favicon and "ERR_NAME_NOT_RESOLVED" in e)]
    assert errors == []
