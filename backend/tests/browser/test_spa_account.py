"""The example SPA's account pages in a real Chromium, with the links that authapi mails.

authapi runs as a real server that delivers its mail over SMTP to a real SMTP server
of the test's own (`mailbox`); its link templates point at the SPA, which is served
from another origin. The test reads each link from the message that arrived and opens
it in the browser, as a user would from their inbox:
- forgot password -> the reset link -> a new password -> log in with it;
- the verification link from the signup mail (and the one "Resend verification" sends);
- change password through the form while logged in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from browser.spa_helpers import expect_result, log_in, output, sign_up, workdir
from servers import authapi_server, free_port
from smtp_sink import Mailbox, body
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow

NEW_PASSWORD = "Another9Battery!"
URL = re.compile(r"https?://\S+")


@pytest.fixture
def api(spa_origin: str, mailbox: Mailbox, tmp_path: Path) -> Iterator[str]:
    """authapi mailing to `mailbox`, with links to the SPA at `spa_origin`; its base URL.

    The links carry the API's own base URL (`?api=`), so the port is chosen before the
    server starts.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    spa = f"{spa_origin}/?api={base_url}"
    settings = {
        "MAIL_URL": mailbox.url,
        "CORS_ORIGINS": spa_origin,
        "PASSWORD_RESET_URL": f"{spa}#/reset-password?token={{token}}",
        "EMAIL_VERIFY_URL": f"{spa}#/verify-email?token={{token}}",
        "RATE_LIMIT_AUTH": "1000/minute",
        "MAIL_RATE_LIMIT": "1000/hour",
    }
    with authapi_server(workdir(tmp_path, "api"), port, **settings) as started:
        assert started == base_url
        yield base_url


def mail(mailbox: Mailbox, address: str, subject: str, nth: int = 1) -> EmailMessage:
    """The `nth` message with this subject to `address`, waiting for it to arrive."""
    deadline = time.monotonic() + 15
    while True:
        found = [m for m in mailbox.to(address) if m["Subject"] == subject]
        if len(found) >= nth:
            return found[nth - 1]
        if time.monotonic() > deadline:
            subjects = [m["Subject"] for m in mailbox.to(address)]
            raise AssertionError(f"no message {nth} {subject!r} to {address}; got {subjects}")
        time.sleep(0.1)


def link_in(message: EmailMessage) -> str:
    links = URL.findall(body(message))
    assert len(links) == 1, body(message)
    return str(links[0])


def open_from_inbox(page: Page, link: str) -> None:
    """Open a mailed link in a fresh document, as from a mail client (not a hash change
    within the page already open): nothing is left in memory, the token included."""
    page.goto("about:blank")
    page.goto(link)
    expect(page.locator("#token-state")).to_have_text("none")


def notice(page: Page) -> Locator:
    return page.locator("#notice")


def test_forgot_password_and_reset_link_in_the_spa(
    page: Page, spa_origin: str, api: str, mailbox: Mailbox, script_errors: list[str]
) -> None:
    email = unique_email("spa-reset")
    page.goto(f"{spa_origin}/?api={api}")
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)

    page.get_by_role("link", name="Forgot password?").click()
    expect(page.locator("#signup-form")).to_be_hidden()
    page.locator("#forgot-email").fill(email)
    page.get_by_role("button", name="Send reset link").click()
    expect_result(page, "POST /auth/password/forgot", 202)
    expect(notice(page)).to_contain_text("If an account exists for this email")

    link = link_in(mail(mailbox, email, "Reset your password"))
    assert link.startswith(f"{spa_origin}/?api={api}#/reset-password?token="), link
    open_from_inbox(page, link)
    expect(page.locator("#api-base")).to_have_text(api)
    expect(page.locator("#login-form")).to_be_hidden()

    # A refused password leaves the link usable.
    page.locator("#reset-password").fill("short")
    page.get_by_role("button", name="Set new password").click()
    expect_result(page, "POST /auth/password/reset", 422)
    expect(output(page)).to_contain_text('"code": "weak_password"')

    page.locator("#reset-password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect_result(page, "POST /auth/password/reset", 204)
    expect(notice(page)).to_contain_text("Your new password is set")
    # The used token is gone from the address bar (and so from the history).
    assert page.url == f"{spa_origin}/?api={api}#/reset-password"

    page.get_by_role("link", name="Log in with the new password").click()
    expect(page.locator("#login-form")).to_be_visible()
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 401)
    expect(output(page)).to_contain_text('"code": "invalid_credentials"')
    log_in(page, email, NEW_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    expect(page.locator("#token-state")).to_have_text("yes")

    # The link worked once. (Opened from the page already open: a hash change.)
    page.goto(link)
    expect(page.locator("#reset-form")).to_be_visible()
    page.locator("#reset-password").fill("Third7Password!")
    page.get_by_role("button", name="Set new password").click()
    expect_result(page, "POST /auth/password/reset", 400)
    expect(output(page)).to_contain_text('"code": "link_invalid"')
    expect(notice(page)).to_contain_text("This link is invalid, used or expired.")
    assert mail(mailbox, email, "Your password was changed") is not None


def test_verify_email_link_in_the_spa(
    page: Page, spa_origin: str, api: str, mailbox: Mailbox, script_errors: list[str]
) -> None:
    email = unique_email("spa-verify")
    page.goto(f"{spa_origin}/?api={api}")
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)
    expect(output(page)).to_contain_text('"email_verified_at": null')
    first = link_in(mail(mailbox, email, "Confirm your email address"))
    assert first.startswith(f"{spa_origin}/?api={api}#/verify-email?token="), first

    page.get_by_role("button", name="Resend verification").click()
    expect_result(page, "POST /auth/email/verify/resend", 202)
    expect(notice(page)).to_contain_text("a new link is on its way")
    second = link_in(mail(mailbox, email, "Confirm your email address", nth=2))

    # The newer link voids the older one.
    open_from_inbox(page, first)
    expect_result(page, "POST /auth/email/verify", 400)
    expect(output(page)).to_contain_text('"code": "link_invalid"')
    expect(notice(page)).to_contain_text("Resend verification")

    open_from_inbox(page, second)
    expect_result(page, "POST /auth/email/verify", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')
    expect(output(page)).to_contain_text(re.compile(r'"email_verified_at": "\d{4}-'))
    expect(notice(page)).to_contain_text(f"{email} is verified.")
    assert page.url == f"{spa_origin}/?api={api}#/verify-email"

    # A reload does not post the used token again.
    page.reload()
    expect(notice(page)).to_contain_text("Open this page with the link")
    expect(output(page)).to_have_text("(nothing yet)")

    login = httpx.post(f"{api}/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email_verified_at"] is not None


def test_change_password_in_the_spa(
    page: Page, spa_origin: str, api: str, mailbox: Mailbox, script_errors: list[str]
) -> None:
    email = unique_email("spa-change")
    page.goto(f"{spa_origin}/?api={api}")
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)
    # Another session of the same account, e.g. another device.
    other = httpx.post(f"{api}/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert other.status_code == 200, other.text
    other_auth = {"Authorization": f"Bearer {other.json()['access_token']}"}

    page.locator("#change-current").fill("Wrong7Horse!!")
    page.locator("#change-new").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect_result(page, "POST /auth/password/change", 400)
    expect(output(page)).to_contain_text('"code": "wrong_password"')

    page.locator("#change-current").fill(STRONG_PASSWORD)
    page.locator("#change-new").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect_result(page, "POST /auth/password/change", 204)
    expect(notice(page)).to_contain_text("Password changed.")
    expect(page.locator("#change-new")).to_have_value("")

    # This session stays; the other one is logged out.
    page.get_by_role("button", name="Me").click()
    expect_result(page, "GET /auth/me", 200)
    elsewhere = httpx.get(f"{api}/auth/me", headers=other_auth)
    assert elsewhere.status_code == 401, elsewhere.text
    assert elsewhere.json()["code"] == "token_revoked"

    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 401)
    log_in(page, email, NEW_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    assert mail(mailbox, email, "Your password was changed") is not None

    # The token was kept in memory only.
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
