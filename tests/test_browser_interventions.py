"""The "which part does what" lesson in a real browser, over the shipped GPT: reach it through the
navigation, see its three sections and seven charts, click a head on the head map and see it chosen,
switch to zero ablation and watch the head map follow, and find no exception box or console error. Leaves test-artifacts/interventions.png."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect
from test_browser_inside import real_errors

from lessons.ui import lesson

pytestmark = pytest.mark.browser

PAGE = "lessons/8_interventions.py"
SECTIONS = (
    "1 · Switch one head off: the head map",
    "2 · Activation patching: where a difference is carried",
    "3 · Induction heads: copying what came before",
)


def test_interventions_page_in_browser(streamlit_server, page, console_errors):
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=lesson(PAGE).title).click()
    expect(page.get_by_role("heading", name="Lesson 8 · Which part does what")).to_be_visible(timeout=60_000)
    for name in SECTIONS:
        expect(page.get_by_role("heading", name=name)).to_be_attached(timeout=60_000)
    wait_for_idle(page)
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(7, timeout=30_000)
    expect(page.get_by_text("(mean ablation)")).to_be_attached(timeout=30_000)  # the head map's title

    # a click on a cell of the head map chooses that head (block 1, head 2 is point 1 * 4 + 2)
    cell = page.locator(".st-key-interventions_fig_heads .scatterlayer .point").nth(6).bounding_box()
    page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    wait_for_idle(page)
    expect(page.get_by_role("heading", name="What block 1, head 2 does on a prompt")).to_be_visible(
        timeout=30_000
    )
    page.locator(".st-key-interventions_head").click()  # the chooser still moves away from the click
    page.get_by_role("option", name="block 3, head 0").click()
    wait_for_idle(page)
    expect(page.get_by_role("heading", name="What block 3, head 0 does on a prompt")).to_be_visible(
        timeout=30_000
    )

    page.locator(".st-key-interventions_mode").get_by_text("zeros").click()
    wait_for_idle(page)
    expect(page.get_by_text("(zero ablation)")).to_be_attached(timeout=60_000)
    expect(page.get_by_text("No: this model has no induction head.")).to_be_attached()
    assert_no_streamlit_exception(page)
    screenshot(page, "interventions")
    assert not real_errors(console_errors, failed)
