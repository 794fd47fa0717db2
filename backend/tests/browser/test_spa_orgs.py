"""The example SPA's organizations page in a real Chromium, against a real authapi
server that mails over SMTP to the test's own server: an owner creates an org and
invites a colleague, who opens the mailed link in their own browser, logs in and
accepts; the owner then sees them and makes them an admin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser.spa_helpers import expect_result, log_in, workdir
from browser.test_spa_account import link_in, mail, notice, open_from_inbox
from servers import authapi_server, free_port
from smtp_sink import Mailbox, link_token
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture
def api(spa_origin: str, mailbox: Mailbox, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    spa = f"{spa_origin}/?api={base_url}"
    settings = {
        "MAIL_URL": mailbox.url,
        "CORS_ORIGINS": spa_origin,
        "ORG_INVITE_URL": f"{spa}#/accept-invite?token={{token}}",
        "EMAIL_VERIFY_URL": f"{spa}#/verify-email?token={{token}}",
        "RATE_LIMIT_AUTH": "1000/minute",
        "MAIL_RATE_LIMIT": "1000/hour",
    }
    with authapi_server(workdir(tmp_path, "api"), port, **settings) as started:
        yield started


def verified_account(api: str, mailbox: Mailbox, email: str) -> None:
    """Signed up and confirmed through the mailed verification link."""
    created = httpx.post(f"{api}/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert created.status_code == 201, created.text
    token = link_token(mail(mailbox, email, "Confirm your email address"))
    assert httpx.post(f"{api}/auth/email/verify", json={"token": token}).status_code == 200


def test_an_owner_invites_a_colleague_who_accepts_from_the_mailed_link(
    page: Page,
    browser: Browser,
    spa_origin: str,
    api: str,
    mailbox: Mailbox,
    script_errors: list[str],
) -> None:
    owner, colleague = unique_email("owner"), unique_email("colleague")
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    verified_account(api, mailbox, owner)
    verified_account(api, mailbox, colleague)

    page.goto(f"{spa_origin}/?api={api}")
    log_in(page, owner, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    page.get_by_role("link", name="Organizations").click()
    page.locator("#org-name").fill("Acme")
    page.locator("#org-slug").fill(slug)
    page.get_by_role("button", name="Create").click()
    expect(notice(page)).to_contain_text("Acme is created")
    expect(page.locator(f'#org-list li[data-slug="{slug}"]')).to_contain_text("you are owner")
    page.locator("#invite-email").fill(colleague)
    page.get_by_role("button", name="Invite").click()
    expect(notice(page)).to_contain_text(f"An invitation is on its way to {colleague}")
    expect(page.locator("#org-invitations")).to_contain_text(f"invited: {colleague} as member")

    link = link_in(mail(mailbox, colleague, "You are invited to an organization"))
    assert link.startswith(f"{spa_origin}/?api={api}#/accept-invite?token="), link
    other = browser.new_context().new_page()
    other.on("pageerror", lambda error: script_errors.append(str(error)))
    open_from_inbox(other, link)
    expect(notice(other)).to_contain_text("Log in with the invited address")
    assert "token=" not in other.url  # out of the address bar at once
    notice(other).get_by_role("link", name="Log in").click()
    log_in(other, colleague, STRONG_PASSWORD)
    expect_result(other, "POST /auth/login", 200)
    other.evaluate("() => { location.hash = '#/accept-invite'; }")
    other.get_by_role("button", name="Accept the invitation").click()
    expect_result(other, "POST /orgs/invitations/accept", 200)
    expect(notice(other)).to_contain_text("You joined Acme as member")

    page.locator(f'#org-list li[data-slug="{slug}"]').get_by_role("button", name="Open").click()
    row = page.locator(f'#org-members li[data-email="{colleague}"]')
    expect(row).to_contain_text(f"{colleague}: member")
    expect(page.locator("#org-invitations li")).to_have_count(0)
    row.locator("select").select_option("admin")
    expect(notice(page)).to_contain_text(f"{colleague} is admin now")
    expect(page.locator(f'#org-members li[data-email="{colleague}"]')).to_contain_text(
        f"{colleague}: admin"
    )
