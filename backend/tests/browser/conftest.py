"""Playwright for Python driving the system Chromium (Debian's `chromium` package).

No browser is downloaded: `scripts/ensure-chromium.sh` installs the Debian package.
Without /usr/bin/chromium every browser test skips, loudly, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from browser.spa_helpers import serve_spa

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's own timeouts, in milliseconds: generous for a loaded CI machine, but a
# test that is going to fail fails in seconds, not in Playwright's default 30 s.
ACTION_TIMEOUT_MS = 15_000


def chromium_missing_reason() -> str | None:
    if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK):
        return None
    return (
        f"BROWSER TESTS NOT RUN: no Chromium at {CHROMIUM}. Install Debian's `chromium` "
        "package (as root: scripts/ensure-chromium.sh) and run the tests again."
    )


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: no cookies, storage or cache shared between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def script_errors(page: Page) -> Iterator[list[str]]:
    """Uncaught errors of the page's script; the test fails if there is any."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert errors == []


@pytest.fixture
def spa_origin() -> Iterator[str]:
    """examples/spa served by a static server of its own: another origin than the API."""
    with serve_spa() as origin:
        yield origin
