"""The example SPA (examples/spa) in a real Chromium, served from another origin.

The page and the API live on different ports of 127.0.0.1, so every call is a
cross-origin fetch that the browser checks against the API's CORS answer:
- with the page's origin in CORS_ORIGINS, the whole flow works (signup, login, me,
  logout, and the 401 for the revoked token);
- with the origin not listed, the browser refuses the call and the page shows it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from browser.spa_helpers import expect_result, output, sign_up, workdir
from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


def test_spa_flow_from_a_listed_origin(page: Page, spa_origin: str, tmp_path: Path) -> None:
    email = unique_email("spa")
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    with authapi_server(workdir(tmp_path, "api"), CORS_ORIGINS=spa_origin) as api:
        page.goto(f"{spa_origin}/?api={api}")
        expect(page.locator("#api-base")).to_have_text(api)

        sign_up(page, email)
        expect_result(page, "POST /auth/signup", 201)
        expect(output(page)).to_contain_text(f'"email": "{email}"')
        # X-Request-ID is readable from script only because the API exposes it.
        expect(output(page)).to_contain_text("X-Request-ID: ")

        page.locator("#login-email").fill(email)
        page.locator("#login-password").fill(STRONG_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect_result(page, "POST /auth/login", 200)
        expect(output(page)).to_contain_text('"token_type": "bearer"')
        expect(page.locator("#token-state")).to_have_text("yes")

        page.get_by_role("button", name="Me").click()
        expect_result(page, "GET /auth/me", 200)
        expect(output(page)).to_contain_text(f'"email": "{email}"')
        expect(output(page)).to_contain_text('"name": "Spa User"')

        page.get_by_role("button", name="Logout").click()
        expect_result(page, "POST /auth/logout", 204)

        # The page still holds the token; the server has revoked its session.
        page.get_by_role("button", name="Me").click()
        expect_result(page, "GET /auth/me", 401)
        expect(output(page)).to_contain_text('"code": "token_revoked"')

        # The token was kept in memory only.
        stored = page.evaluate("() => [localStorage.length, sessionStorage.length]")
        assert stored == [0, 0]
        assert page.context.cookies() == []
    assert script_errors == []


def test_spa_from_an_unlisted_origin_is_refused(
    page: Page, spa_origin: str, tmp_path: Path
) -> None:
    email = unique_email("refused")
    console: list[str] = []

    def note_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    page.on("console", note_console)
    # Other origins are listed, among them this page's port under another host name:
    # origins are compared exactly.
    port = spa_origin.rsplit(":", 1)[1]
    listed = f"https://app.example.com,http://localhost:{port}"
    with authapi_server(workdir(tmp_path, "api"), CORS_ORIGINS=listed) as api:
        page.goto(f"{spa_origin}/?api={api}")

        # A JSON POST needs a preflight; the API does not approve it, so the browser
        # never sends the POST.
        sign_up(page, email)
        expect(output(page)).to_have_attribute("data-state", "network-error")
        expect(output(page)).to_contain_text("POST /auth/signup")
        expect(output(page)).to_contain_text("Failed to fetch")
        expect(output(page)).to_have_attribute("data-status", "")
        expect(page.locator("#token-state")).to_have_text("none")

        # A simple GET needs no preflight: the request reaches the API (a 401), but
        # without Access-Control-Allow-Origin the browser keeps the answer from the page.
        page.get_by_role("button", name="Me").click()
        expect(output(page)).to_have_attribute("data-state", "network-error")
        expect(output(page)).to_contain_text("GET /auth/me")

        # The signup never happened: the account does not exist.
        login = httpx.post(f"{api}/auth/login", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 401, login.text
        assert login.json()["code"] == "invalid_credentials"

    blocked = [text for text in console if "blocked by CORS policy" in text]
    assert len(blocked) >= 2, f"expected the browser's CORS errors, console had: {console}"
