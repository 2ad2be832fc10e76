"""The app in a real browser: ``scsim app`` driven by Playwright in Debian's Chromium.

Skipped when Playwright or ``/usr/bin/chromium`` is missing, unless
``SCSIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs Chromium), where
a missing browser fails the test instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from experiments.model import SCSModel
from sim.metrics import METRIC_KEYS

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as this machine runs it headless as root: no sandbox, and no calls
# home (the network is closed; its background requests would only fail).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 120
UI_TIMEOUT_MS = 60_000

pytestmark = pytest.mark.slow


def _need(what: str) -> None:
    if os.environ.get("SCSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test needs {what} (SCSIM_REQUIRE_BROWSER=1)")
    pytest.skip(f"needs {what}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    if not CHROMIUM.exists():
        _need(str(CHROMIUM))
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("the playwright package")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", "app", "--port", str(port)],
        start_new_session=True,  # the server's own child (Solara) goes down with it
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                output = server.stdout.read().decode(errors="replace") if server.poll() is not None else ""
                pytest.fail(f"the app server did not start on {url}: {output[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(app_url)
        page.get_by_text("blacklist_rate", exact=True).wait_for()
        yield page
        browser.close()


def _step(page, times: int) -> None:
    button = page.get_by_role("button", name="Step", exact=True)
    for month in range(1, times + 1):
        button.click()
        page.locator(f'[data-plot="approval"][data-month="{month}"]').wait_for()


def test_moving_the_blacklisting_slider_changes_what_the_plots_show(page, tmp_path):
    slider = page.locator(".v-input", has=page.get_by_text("blacklist_rate", exact=True)).get_by_role("slider")
    slider.focus()
    for _ in range(16):  # 16 steps of 0.001 from the 2018 value 0.02
        page.keyboard.press("ArrowRight")
    page.get_by_text("a change applies from month 1").wait_for()
    _step(page, 3)

    approval = page.locator('[data-plot="approval"]')
    caption = page.locator(".caption-approval").inner_text()
    assert "blacklist_rate = 0.036 from month 1" in caption, caption
    # One marker per month 0..3 on the line, and the change drawn at month 1.
    assert approval.locator('g[id="approval:all|share_approve"] use').count() == 4
    assert approval.locator('g[id="approval:change-month-1"]').count() == 1

    # What the page shows is what the engine gives for the new setting, and not for the old one.
    changed = SCSModel(n=20_000, seed=1, blacklist_rate=0.036).run(3).metric_history()
    unchanged = SCSModel(n=20_000, seed=1).run(3).metric_history()
    approve, listed = METRIC_KEYS.index("all|share_approve"), METRIC_KEYS.index("all|share_blacklisted")
    assert float(approval.get_attribute("data-value")) == changed[3, approve]
    shown_listed = float(page.locator('[data-plot="lists"]').get_attribute("data-value"))
    assert shown_listed == changed[3, listed] != unchanged[3, listed]

    page.screenshot(path=tmp_path / "app.png", full_page=True)
    assert (tmp_path / "app.png").stat().st_size > 10_000

    # Mesa's play and pause run the same model on.
    page.get_by_role("button", name="▶", exact=True).click()
    page.locator('[data-plot="approval"][data-month="6"]').wait_for()
    page.get_by_role("button", name="❚❚", exact=True).click()
    # Reset starts a new model at month 0; the moved slider applies to it from month 1 again.
    page.get_by_role("button", name="Reset", exact=True).click()
    page.locator('[data-plot="approval"][data-month="0"]').wait_for()
    _step(page, 1)
    assert "blacklist_rate = 0.036 from month 1" in page.locator(".caption-approval").inner_text()
    assert float(approval.get_attribute("data-value")) == changed[1, approve]


def test_bad_input_shows_an_inline_message_and_the_page_keeps_working(page):
    citizens = page.get_by_label("Citizens (1,000–1,000,000)")
    citizens.fill("abc")
    citizens.press("Enter")
    seed = page.get_by_label("Seed (whole number)")
    seed.fill("")
    seed.press("Enter")
    page.get_by_role("button", name="Reset", exact=True).click()
    problems = page.locator(".input-problem")
    problems.first.wait_for()
    text = " | ".join(problems.all_inner_texts())
    assert "citizens: must be a whole number between 1,000 and 1,000,000, got 'abc'; using 20,000" in text
    assert "seed: must be a whole number between 0 and" in text and "got ''" in text
    _step(page, 2)
    assert page.locator('[data-plot="approval"]').get_attribute("data-month") == "2"
