"""Passkeys in the example SPA, in Chromium with its virtual authenticator (the
DevTools protocol's WebAuthn domain): the page's own navigator.credentials calls
and the browser's JSON helpers, against a real authapi process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from browser.spa_helpers import expect_result, log_in, sign_up, workdir
from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture
def page_origin(spa_origin: str) -> str:
    """The SPA on `localhost`: a relying party id is a host name, never an IP."""
    return spa_origin.replace("127.0.0.1", "localhost")


@pytest.fixture
def api(tmp_path: Path, page_origin: str) -> Iterator[str]:
    with authapi_server(
        workdir(tmp_path, "api"),
        CORS_ORIGINS=page_origin,
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS=page_origin,
        RATE_LIMIT_AUTH="1000/minute",
    ) as base_url:
        yield base_url


def virtual_authenticator(context: BrowserContext, page: Page) -> None:
    """A platform authenticator that holds discoverable credentials and verifies the
    user (as a fingerprint reader would) without asking."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def signed_up_with_a_passkey(page: Page, url: str, email: str, name: str) -> None:
    """A new account on the SPA at `url`, with a passkey called `name`."""
    page.goto(url)
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)
    page.get_by_role("link", name="Passkeys").click()
    expect_result(page, "GET /auth/passkeys", 200)
    page.locator("#passkey-password").fill(STRONG_PASSWORD)
    page.locator("#passkey-name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#notice")).to_contain_text(f'The passkey "{name}" is added')


def test_add_a_passkey_then_sign_in_with_it_and_no_password(
    context: BrowserContext,
    page: Page,
    script_errors: list[str],
    page_origin: str,
    api: str,
) -> None:
    virtual_authenticator(context, page)
    email = unique_email("spa-passkey")
    signed_up_with_a_passkey(page, f"{page_origin}/?api={api}", email, "Laptop")
    expect(page.locator("#passkey-list li")).to_have_count(1)
    expect(page.locator("#passkey-list li")).to_contain_text("Laptop")

    # Logged out, and a new page: nothing in memory, no password typed.
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    page.get_by_role("button", name="Logout").click()
    expect_result(page, "POST /auth/logout", 204)
    page.goto(f"{page_origin}/?api={api}")
    expect(page.locator("#token-state")).to_have_text("none")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect_result(page, "POST /auth/passkeys/login/verify", 200)
    expect(page.locator("#notice")).to_contain_text(f"Signed in as {email} with a passkey.")
    expect(page.locator("#token-state")).to_have_text("yes")


def test_a_passkey_answers_the_second_step_after_the_password(
    context: BrowserContext,
    page: Page,
    script_errors: list[str],
    page_origin: str,
    api: str,
) -> None:
    virtual_authenticator(context, page)
    email = unique_email("spa-passkey-2fa")
    signed_up_with_a_passkey(page, f"{page_origin}/?api={api}", email, "Key")

    page.goto(f"{page_origin}/?api={api}")
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    expect(page.locator("#token-state")).to_have_text("none")  # a second step first
    page.get_by_role("button", name="Use a passkey").click()

    expect_result(page, "POST /auth/mfa/verify", 200)
    expect(page.locator("#notice")).to_contain_text("Logged in with a passkey as the second step.")
    expect(page.locator("#token-state")).to_have_text("yes")
