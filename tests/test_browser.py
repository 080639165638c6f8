"""The app in a real browser (`streamlit run` + headless Debian chromium): every lesson in
lessons.ui.LESSONS opens through the sidebar navigation, and lesson 1's tokenizer box, sliders
and upload widget work. Fails on a Streamlit exception box or a browser console error.
Screenshots land in test-artifacts/ (page-<file>.png, dataset-*.png)."""

from pathlib import Path

import pytest
from conftest import assert_no_streamlit_exception, screenshot, wait_for_idle
from playwright.sync_api import expect

from lessons.ui import LESSONS
from tinygpt import CharTokenizer

pytestmark = pytest.mark.browser

DATASET_TITLE = next(title for path, title, _ in LESSONS if path == "lessons/1_dataset.py")


def open_app(page, url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    wait_for_idle(page)


def go_to(page, title: str) -> None:
    """Follow the sidebar's navigation link to the lesson called `title`."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title)
    href = link.get_attribute("href")
    link.click()
    expect(page).to_have_url(href)
    wait_for_idle(page)


def test_every_page_through_the_navigation(streamlit_server, page, console_errors):
    open_app(page, streamlit_server)
    expect(page.get_by_role("heading", name="TinyGPT: build a GPT from scratch")).to_be_visible()
    for path, title, _ in [*LESSONS[1:], LESSONS[0]]:  # every lesson, then back home
        go_to(page, title)
        expect(page.locator("h1").first).to_be_visible(timeout=60_000)
        assert_no_streamlit_exception(page)
        screenshot(page, f"page-{Path(path).stem}")
    expect(page.get_by_text("Training device")).to_be_visible()
    assert console_errors == []


def test_dataset_tokenizer_box_and_sliders(streamlit_server, page, console_errors, text):
    tok = CharTokenizer.from_text(text)
    open_app(page, streamlit_server)
    go_to(page, DATASET_TITLE)
    expect(page.get_by_role("heading", name="Lesson 1")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(f"{len(text):,}", exact=True)).to_be_visible()

    box = page.get_by_label("Type some text")
    box.fill("First Citizen")
    box.press("Enter")
    expect(page.get_by_text(f"encode('First Citizen') → {tok.encode('First Citizen')}")).to_be_visible()
    expect(page.get_by_text("Round trip: decode(encode(text)) gives back exactly the text.")).to_be_visible()
    box.fill("hi€")
    box.press("Enter")
    expect(page.get_by_text("characters not in the vocabulary: '€'")).to_be_visible()
    expect(page.get_by_text("decodes to 'hi '")).to_be_visible()
    expect(page.get_by_text("decodes to 'hi'")).to_be_visible()  # 'hi' then a quote: not 'hi '

    block = page.get_by_role("slider", name="block_size (T)")
    block.focus()
    block.press("ArrowRight")
    expect(block).to_have_value("9")
    expect(page.get_by_text("shape (B, T) = (4, 9)")).to_be_visible()
    expect(page.get_by_text("One chunk of 9 characters holds 9 training examples")).to_be_visible()
    offset = page.get_by_role("slider", name="Read from character")
    offset.focus()
    offset.press("End")
    expect(page.get_by_text(f"to {len(text):,} of {len(text):,}")).to_be_visible()
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "dataset-interactions")
    assert console_errors == []


def test_dataset_upload_good_and_bad_files(streamlit_server, page, console_errors, tmp_path):
    open_app(page, streamlit_server)
    go_to(page, DATASET_TITLE)
    page.get_by_text("Your own .txt file").click()
    expect(page.get_by_text("Choose a .txt file to explore it")).to_be_visible()

    poem = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n" * 5
    (tmp_path / "sonnet.txt").write_text(poem, encoding="utf-8")
    page.locator("input[type=file]").set_input_files(tmp_path / "sonnet.txt")
    expect(page.get_by_text(f"{len(poem):,}", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The first 90% of sonnet.txt is for training")).to_be_visible()
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "dataset-upload")

    (tmp_path / "latin1.txt").write_bytes("naïve café".encode("latin-1"))
    page.locator("input[type=file]").set_input_files(tmp_path / "latin1.txt")
    expect(page.get_by_text("latin1.txt is not UTF-8 text")).to_be_visible(timeout=30_000)
    wait_for_idle(page)
    assert_no_streamlit_exception(page)
    screenshot(page, "dataset-upload-error")
    assert console_errors == []
