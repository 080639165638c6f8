"""The sample text in a real browser: one click in lesson 1 picks the server log, and the training
lesson names it as the text it will train on. Screenshots: test-artifacts/own-text-*.png."""

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect
from test_browser import DATASET_TITLE, go_to, open_app

from course import corpora
from lessons.ui import SAMPLE_LOGS, TRAINING, lesson

pytestmark = pytest.mark.browser


def test_the_sample_log_is_one_click_away_and_the_race_names_it(streamlit_server, page, console_errors):
    logs = corpora.SAMPLE_LOGS.read_text(encoding="ascii")
    open_app(page, streamlit_server)
    go_to(page, DATASET_TITLE)
    page.get_by_text(SAMPLE_LOGS, exact=True).click()
    expect(page.get_by_text(f"{len(logs):,}", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"The first 90% of {SAMPLE_LOGS} is for training")).to_be_visible()
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "own-text-dataset")

    go_to(page, lesson(TRAINING).title)
    expect(
        page.get_by_text(f"{SAMPLE_LOGS}, {len(logs):,} characters, {len(set(logs))} distinct")
    ).to_be_visible(timeout=120_000)
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "own-text-training")
    assert console_errors == []
