"""Swagger UI at /docs, in a real Chromium, against the real server.

Sign up with "Try it out", authorize with the OAuth2 password form (`/auth/token`),
call GET /auth/me and see the user: the path a developer takes on first contact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    workdir = tmp_path / "server"
    workdir.mkdir()
    with authapi_server(workdir) as url:
        yield url


def operation(page: Page, tag: str, operation_id: str) -> Locator:
    """An operation's block, expanded, with "Try it out" switched on."""
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    return block


def execute(block: Locator) -> tuple[Locator, Locator]:
    """Press Execute; the live response's status cell and body."""
    block.get_by_role("button", name="Execute").click()
    response = block.locator(".live-responses-table tbody tr.response").first
    return response.locator(".response-col_status"), response.locator(
        ".response-col_description .microlight"
    ).first


def test_signup_authorize_and_me_in_swagger_ui(page: Page, base_url: str, tmp_path: Path) -> None:
    email = unique_email("swagger")
    origin = urlsplit(base_url).netloc
    foreign: list[str] = []

    def note_foreign(request: Request) -> None:
        if urlsplit(request.url).netloc != origin:
            foreign.append(request.url)

    page.on("request", note_foreign)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto(f"{base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("authapi")

    # Sign up through "Try it out".
    signup = operation(page, "auth", "signup_auth_signup_post")
    body = signup.locator("textarea.body-param__text")
    body.fill(f'{{"email": "{email}", "password": "{STRONG_PASSWORD}", "name": "Swagger"}}')
    status, response_body = execute(signup)
    expect(status).to_have_text("201")
    expect(response_body).to_contain_text('"access_token"')
    expect(response_body).to_contain_text(email)

    # Authorize with the OAuth2 password form, which posts to /auth/token.
    page.locator(".scheme-container button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_be_visible()
    dialog.locator("#oauth_username").fill(email)
    dialog.locator("#oauth_password").fill(STRONG_PASSWORD)
    with page.expect_response(f"{base_url}/auth/token") as token_response:
        # Swagger UI labels its buttons for screen readers; the text reads "Authorize".
        dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    assert token_response.value.status == 200
    # Swagger UI swaps the form for "Logout" once it holds a token.
    expect(dialog.get_by_role("button", name="Remove authorization")).to_have_text("Logout")
    # One Close per security scheme (OAuth2 password, and HTTP Basic for introspection
    # clients): any of them closes the dialog.
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()

    # GET /auth/me with the token Swagger UI now holds.
    me = operation(page, "auth", "me_auth_me_get")
    with page.expect_request(f"{base_url}/auth/me") as me_request:
        status, response_body = execute(me)
    assert (me_request.value.header_value("authorization") or "").startswith("Bearer ")
    expect(status).to_have_text("200")
    expect(response_body).to_contain_text(f'"email": "{email}"')
    expect(response_body).to_contain_text('"name": "Swagger"')

    screenshot = tmp_path / "swagger-me.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # Swagger UI came from the server itself: no CDN, so /docs works offline.
    assert foreign == [], f"/docs fetched from other origins: {foreign}"
    assert script_errors == []
