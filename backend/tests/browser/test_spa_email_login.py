"""Email sign-in in the example SPA, in a real Chromium, against a real authapi
server that mails over SMTP to the test's own server: ask for the mail on the login
form, open its link from the inbox and be signed in with no password; then the same
with the mail's code typed into the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser.spa_helpers import expect_result, workdir
from browser.test_spa_account import link_in, mail, notice, open_from_inbox
from servers import authapi_server, free_port
from smtp_sink import Mailbox, body
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow

SUBJECT = "Your sign-in link and code"


@pytest.fixture
def api(spa_origin: str, mailbox: Mailbox, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = {
        "MAIL_URL": mailbox.url,
        "CORS_ORIGINS": spa_origin,
        "EMAIL_LOGIN_URL": f"{spa_origin}/?api={base_url}#/email-login?token={{token}}",
        "RATE_LIMIT_AUTH": "1000/minute",
        "MAIL_RATE_LIMIT": "1000/hour",
    }
    with authapi_server(workdir(tmp_path, "api"), port, **settings) as started:
        yield started


def test_sign_in_from_the_mailed_link_and_with_the_mailed_code(
    page: Page, spa_origin: str, api: str, mailbox: Mailbox, script_errors: list[str]
) -> None:
    email = unique_email("spa-email")
    created = httpx.post(f"{api}/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert created.status_code == 201, created.text

    page.goto(f"{spa_origin}/?api={api}")
    page.locator("#login-email").fill(email)
    page.get_by_role("button", name="Email a sign-in link").click()
    expect_result(page, "POST /auth/email-login", 202)
    expect(page.locator("#email-code-form")).to_be_visible()

    link = link_in(mail(mailbox, email, SUBJECT))
    assert link.startswith(f"{spa_origin}/?api={api}#/email-login?token="), link
    open_from_inbox(page, link)
    expect_result(page, "POST /auth/email-login/verify", 200)
    expect(notice(page)).to_contain_text(f"Signed in as {email} with the mailed link")
    expect(page.locator("#token-state")).to_have_text("yes")
    assert "token=" not in page.url

    # The code of a second mail, typed into the login form.
    page.goto(f"{spa_origin}/?api={api}")
    page.locator("#login-email").fill(email)
    page.get_by_role("button", name="Email a sign-in link").click()
    expect_result(page, "POST /auth/email-login", 202)
    found = re.search(
        r"code on the sign-in page: ([0-9]{6})", body(mail(mailbox, email, SUBJECT, 2))
    )
    assert found is not None
    page.locator("#email-code").fill(found.group(1))
    page.get_by_role("button", name="Sign in with the code").click()
    expect_result(page, "POST /auth/email-login/verify", 200)
    expect(notice(page)).to_contain_text(f"Signed in as {email} with the mailed code")
