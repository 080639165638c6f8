"""Lesson 9 in a real browser: the shipped table, then a switch trained against the baseline whose
curves and comparison refresh by themselves (run_every), and a stop. Screenshot:
test-artifacts/experiments-done.png."""

import re

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect
from test_browser import go_to, open_app

from lessons.ui import lesson

pytestmark = pytest.mark.browser
PAGE = "lessons/9_experiments.py"


def test_a_switch_trains_live_against_the_baseline(streamlit_server, page, console_errors):
    open_app(page, streamlit_server)
    go_to(page, lesson(PAGE).title)
    expect(page.get_by_text("Dropping the warmup costs post-norm", exact=False)).to_be_visible(timeout=60_000)
    wait_for_idle(page)
    slider = page.get_by_role("slider")
    slider.focus()
    slider.press("Home")  # the smallest budget: 50,000 characters, 33 steps each
    expect(slider).to_have_value("50000")
    wait_for_idle(page)
    page.get_by_role("button", name="Train both").click()
    # The comparison appears after both models' first evaluation (step 6): the panel refreshed by itself.
    expect(page.get_by_text("than the baseline's")).to_be_visible(timeout=180_000)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text(re.compile(r"stopped, step \d+ / 33"))).to_be_visible(timeout=60_000)
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "experiments-done")
    assert console_errors == []
