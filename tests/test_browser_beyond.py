"""The closing lesson in a real browser: reach it through the navigation, fine-tune a copy of the
shipped model with the button, see its answer and loss chart, with no exception box or console error.
Leaves a full-page screenshot in test-artifacts/beyond.png."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

FAVICON_HOST = "fonts.gstatic.com"  # app.py's icon font, unreachable offline


def test_beyond_page_in_browser(streamlit_server, page, console_errors):
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(streamlit_server)
    nav = page.get_by_test_id("stSidebarNavItems")
    nav.get_by_role("link", name="7 · From TinyGPT to ChatGPT").click()
    expect(page.get_by_role("heading", name="Lesson 7 · From TinyGPT to ChatGPT")).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_text("Pre-trained (as shipped)")).to_be_visible(timeout=60_000)
    wait_for_idle(page)

    steps = page.locator("input[type=range]").first  # fine-tuning steps: 30 -> 10
    steps.focus()
    steps.press("ArrowLeft")
    steps.press("ArrowLeft")
    expect(steps).to_have_value("10")
    wait_for_idle(page)
    page.get_by_role("button", name="Fine-tune a copy").click()
    expect(page.get_by_text("Fine-tuning loss on your pairs")).to_be_visible(timeout=120_000)
    wait_for_idle(page)
    expect(page.get_by_text("QUESTION: What is a king?")).to_have_count(2)  # before and after

    page.wait_for_timeout(1500)  # let plotly finish drawing
    assert_no_streamlit_exception(page)
    screenshot(page, "beyond")
    offline_favicon = all(FAVICON_HOST in url for url in failed)
    errors = [e for e in console_errors if not (offline_favicon and "ERR_NAME_NOT_RESOLVED" in e)]
    assert errors == []
