"""The generation page in a real browser: text streams in after a click, the step-through chart
draws, and a bad file dropped on the real upload widget gets a message, not a traceback."""

import re
import shutil

import pytest
from conftest import assert_no_streamlit_exception, screenshot
from playwright.sync_api import expect

from lessons.ui import lesson

pytestmark = pytest.mark.browser


def open_generate(page, url) -> list[str]:
    """Open the lesson; returns the list of URLs that fail to load (filled in as the page runs)."""
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.goto(url)
    title = lesson("lessons/6_generate.py").title
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=60_000)
    return failed


def real_errors(console_errors: list[str], failed: list[str]) -> list[str]:
    """Console errors, less the one for app.py's Material-icon favicon, which the browser fetches
    from fonts.gstatic.com (unreachable offline). Any other failed request still counts."""
    offline_icon = failed and all(url.startswith("https://fonts.gstatic.com/") for url in failed)
    return [e for e in console_errors if not (offline_icon and e.startswith("Failed to load resource"))]


def test_generate_streams_text_and_steps_through(
    streamlit_server, page, console_errors, runs_dir, tiny_checkpoint
):
    shutil.copy(tiny_checkpoint, runs_dir / "tiny-gpt.safetensors")
    failed = open_generate(page, streamlit_server)
    expect(page.get_by_text("Parameters")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Generate").click()
    speed = page.get_by_text(re.compile(r"characters at [\d,]+ characters/s"))
    expect(speed).to_be_visible(timeout=120_000)
    output = page.locator(".st-key-generate_output")
    assert len(output.inner_text()) > 500  # the prompt and 500 generated characters
    screenshot(page, "generate")

    page.get_by_role("tab", name="Step through").click()
    chart = page.locator(".stPlotlyChart, [data-testid='stPlotlyChart']").last
    expect(chart).to_be_visible(timeout=30_000)
    expect(chart.get_by_text("sampled")).to_be_visible(timeout=30_000)
    chart.scroll_into_view_if_needed()
    screenshot(page, "generate-step-through")
    assert_no_streamlit_exception(page)
    assert not real_errors(console_errors, failed), (console_errors, failed)


def test_a_bad_upload_shows_a_message(streamlit_server, page, console_errors, runs_dir):
    failed = open_generate(page, streamlit_server)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Upload a file…").click()
    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
    dropzone.set_input_files(
        files=[
            {"name": "weights.safetensors", "mimeType": "application/octet-stream", "buffer": b"\x00" * 64}
        ]
    )
    message = page.get_by_text("weights.safetensors cannot be used")
    expect(message).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("not a safetensors file")
    screenshot(page, "generate-bad-upload")
    assert_no_streamlit_exception(page)
    assert not real_errors(console_errors, failed), (console_errors, failed)
