"""The demo page end to end in a real headless Chromium (Debian's), driven by Playwright,
against the real-weights server: pick a real photograph, get the cutout, download it.

`make test` installs Chromium (apt-get) and Playwright's Python package; Playwright never
downloads a browser of its own here: it is pointed at /usr/bin/chromium.
Set WIZPIX_SCREENSHOT=path to keep a screenshot of the page (docs/examples/ui.png is made so).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Server, pro_label

pytestmark = [pytest.mark.server, pytest.mark.weights]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps dialling Google's hosts, which this machine refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield launched
        launched.close()


def test_demo_page_cuts_out_a_photograph_and_downloads_a_transparent_png(
    real_server: Server, browser, astronaut: bytes, tmp_path: Path
) -> None:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut)
    page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.goto(f"{real_server.url}/")
    page.click("text=Try it")  # the landing page links to the demo page
    assert page.url.endswith("/ui")
    page.wait_for_function("document.getElementById('health').dataset.status === 'ok'", timeout=30_000)
    assert "u2netp: ready" in page.inner_text("#health")

    page.set_input_files("#file", str(photo))
    page.select_option("#quality", "pro")
    page.click("#go")
    page.wait_for_selector("#served", timeout=120_000)
    assert page.inner_text("#served").startswith(f"served by pro ({pro_label(real_server)})")
    assert page.inner_text("#error") == ""
    shown = page.evaluate(
        "[document.getElementById('result').naturalWidth, document.getElementById('original').naturalWidth]"
    )
    assert shown == [512, 512]
    if target := os.environ.get("WIZPIX_SCREENSHOT"):
        page.screenshot(path=target, full_page=True)

    with page.expect_download() as event:
        page.click("#download")
    download = event.value
    assert download.suggested_filename == "astronaut-cutout.png"
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (512, 512)
    alpha = np.asarray(image)[..., 3]
    assert (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.2  # backdrop gone, subject kept
    page.close()


def test_demo_page_shows_an_error_for_a_file_that_is_not_an_image(
    real_server: Server, browser, tmp_path: Path
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    page = browser.new_page()
    page.goto(f"{real_server.url}/ui")
    page.set_input_files("#file", str(text))
    page.click("#go")
    page.wait_for_function("document.getElementById('error').textContent !== ''", timeout=30_000)
    assert page.inner_text("#error").startswith("400 not_an_image")
    page.close()


def test_demo_page_asks_auto_then_fixes_the_cutout_with_two_painted_strokes(
    real_server: Server, browser, astronaut: bytes, tmp_path: Path
) -> None:
    """A person's way: quality auto, then a keep stroke painted on the sky behind the
    astronaut's shoulder (the backdrop: cut away), Apply: the region comes back, from the
    server's mask cache (no model runs), and the page says it was corrected."""
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{real_server.url}/ui")
    page.set_input_files("#file", str(photo))
    page.select_option("#quality", "auto")
    page.click("#go")
    page.wait_for_selector("#served", timeout=120_000)
    assert page.inner_text("#meta").count("auto: fast's uncertainty") == 1
    page.wait_for_selector("#paint", state="visible")
    before = page.evaluate("document.getElementById('result').src")
    box = page.locator("#paint").bounding_box()
    assert box is not None
    # a short line near the top-right corner of the photo: backdrop, cut away by the model
    page.mouse.move(box["x"] + box["width"] * 0.86, box["y"] + box["height"] * 0.08)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.94, box["y"] + box["height"] * 0.08, steps=5)
    page.mouse.up()
    page.click("#apply")
    page.wait_for_function(f"document.getElementById('result').src !== {before!r}", timeout=60_000)
    page.wait_for_selector("text=corrected by your strokes (keep)", timeout=60_000)
    assert page.inner_text("#error") == ""
    page.close()
