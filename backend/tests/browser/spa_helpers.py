"""Helpers for the tests that drive the example SPA (examples/spa)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from support import PROJECT_ROOT, STRONG_PASSWORD

SPA_DIR = PROJECT_ROOT / "examples" / "spa"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_spa() -> Iterator[str]:
    """examples/spa from a static server of its own (another origin than the API);
    yields its origin."""
    handler = functools.partial(_QuietHandler, directory=str(SPA_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def workdir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def output(page: Page) -> Locator:
    return page.locator("#output")


def expect_result(page: Page, call: str, status: int) -> None:
    """The output area shows the finished call with this HTTP status."""
    out = output(page)
    expect(out).not_to_have_attribute("data-state", "pending")
    expect(out).to_contain_text(call)
    expect(out).to_have_attribute("data-status", str(status))
    expect(out).to_contain_text(f"-> {status}")


def sign_up(page: Page, email: str, password: str = STRONG_PASSWORD) -> None:
    page.locator("#signup-email").fill(email)
    page.locator("#signup-password").fill(password)
    page.locator("#signup-name").fill("Spa User")
    page.get_by_role("button", name="Sign up").click()


def log_in(page: Page, email: str, password: str) -> None:
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Log in").click()
