"""The "inside the trained model" lesson in a real browser, over the shipped GPT: reach it through the
navigation, see every section, edit the prompt and watch the charts follow, choose a stage of the
diagram, and find no exception box or console error. Leaves test-artifacts/inside.png."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect

from lessons.ui import lesson

pytestmark = pytest.mark.browser

PAGE = "lessons/5_inside.py"
SECTIONS = (
    "1 · What the embeddings learned",
    "2 · The architecture, one tensor per stage",
    "3 · One position, stage by stage",
    "4 · The logit lens: the guess forming with depth",
    "5 · Dropout: train mode against eval mode",
)


def real_errors(console_errors: list[str], failed: list[str]) -> list[str]:
    """Console errors, less the one for app.py's Material-icon favicon (fonts.gstatic.com is
    unreachable offline). Any other failed request still counts."""
    offline_icon = failed and all(url.startswith("https://fonts.gstatic.com/") for url in failed)
    return [e for e in console_errors if not (offline_icon and e.startswith("Failed to load resource"))]


def test_inside_page_in_browser(streamlit_server, page, console_errors):
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=lesson(PAGE).title).click()
    expect(page.get_by_role("heading", name="Lesson 5 · Inside the trained model")).to_be_visible(
        timeout=60_000
    )
    for name in SECTIONS:
        expect(page.get_by_role("heading", name=name)).to_be_attached(timeout=60_000)
    wait_for_idle(page)
    diagram = page.get_by_test_id("stGraphVizChart")
    expect(diagram.locator("svg")).to_be_attached(timeout=30_000)  # Graphviz drew the architecture
    lens = page.get_by_text("Right guesses of the next character:")
    before = lens.inner_text()
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(17, timeout=30_000)

    prompt = page.locator(".st-key-inside_prompt textarea")
    prompt.fill("JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?")
    prompt.press("Control+Enter")  # submits the text area, as clicking elsewhere would
    wait_for_idle(page)
    expect(lens).not_to_have_text(before, timeout=30_000)
    expect(page.get_by_text("After 48:?: the likeliest next characters")).to_be_attached(timeout=30_000)

    page.locator(".st-key-inside_stage").get_by_text("MLP hidden units (c_fc, act)").click()
    wait_for_idle(page)
    expect(page.get_by_text("MLP hidden units (c_fc, act) in block 0: shape (49, 1024)")).to_be_attached(
        timeout=30_000
    )
    expect(diagram.locator("svg").get_by_text("MLP: c_fc + GELU")).to_be_attached()

    assert_no_streamlit_exception(page)
    screenshot(page, "inside")
    assert not real_errors(console_errors, failed), (console_errors, failed)
