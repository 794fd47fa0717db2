"""The example SPA's second factor in a real Chromium, against a real authapi server on
another origin: enrol (the secret and otpauth URI shown as text), confirm (the
recovery codes shown once), the two-step login with a code and with a recovery code,
and turning the factor off. Codes come from pyotp and the secret the page showed, as
an authenticator app would compute them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from browser.spa_helpers import expect_result, log_in, output, sign_up, workdir
from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture
def api(spa_origin: str, tmp_path: Path) -> Iterator[str]:
    settings = {"CORS_ORIGINS": spa_origin, "RATE_LIMIT_AUTH": "1000/minute"}
    with authapi_server(workdir(tmp_path, "api"), **settings) as base_url:
        yield base_url


def code(secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps)


def test_enrol_then_log_in_with_a_code_and_a_recovery_code_then_turn_it_off(
    page: Page, spa_origin: str, api: str, script_errors: list[str]
) -> None:
    email = unique_email("spa-mfa")
    page.goto(f"{spa_origin}/?api={api}")
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)
    expect(output(page)).to_contain_text('"mfa_enabled": false')

    # Enrol: the secret and the otpauth URI, as text.
    page.get_by_role("link", name="Second factor").click()
    page.locator("#mfa-setup-password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Start setup").click()
    expect_result(page, "POST /auth/mfa/totp/setup", 200)
    expect(page.locator("#mfa-enrolment")).to_be_visible()
    secret = page.locator("#mfa-secret").inner_text()
    assert len(secret) == 32, secret
    expect(page.locator("#mfa-uri")).to_contain_text("otpauth://totp/")
    expect(page.locator("#mfa-uri")).to_contain_text(f"secret={secret}")

    # Confirm: the factor is on and the ten recovery codes are shown.
    page.locator("#mfa-confirm-code").fill(code(secret))
    page.get_by_role("button", name="Confirm").click()
    expect_result(page, "POST /auth/mfa/totp/confirm", 200)
    codes = page.locator("#mfa-recovery-codes li")
    expect(codes).to_have_count(10)
    recovery = codes.nth(0).inner_text()
    expect(page.locator("#mfa-enrolment")).to_be_hidden()  # the secret is off the page

    # Two-step login: the password gives no token, the code does.
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    page.get_by_role("button", name="Logout").click()
    expect_result(page, "POST /auth/logout", 204)
    expect(page.locator("#mfa-step")).to_be_hidden()
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    expect(output(page)).to_contain_text('"mfa_required": true')
    expect(page.locator("#token-state")).to_have_text("yes (revoked by logout)")
    expect(page.locator("#mfa-step")).to_be_visible()
    page.locator("#mfa-code").fill(code(secret, 1))
    page.get_by_role("button", name="Verify code").click()
    expect_result(page, "POST /auth/mfa/verify", 200)
    expect(page.locator("#token-state")).to_have_text("yes")
    expect(page.locator("#mfa-step")).to_be_hidden()
    page.get_by_role("button", name="Me").click()
    expect_result(page, "GET /auth/me", 200)
    expect(output(page)).to_contain_text('"mfa_enabled": true')

    # With a recovery code instead (the phone is elsewhere); a wrong code first.
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    page.locator("#mfa-code").fill("k3mq-7vxa-2bnd-p4rt")
    page.get_by_role("button", name="Verify code").click()
    expect_result(page, "POST /auth/mfa/verify", 400)
    expect(page.locator("#notice")).to_contain_text("That code is not right")
    page.locator("#mfa-code").fill(recovery)
    page.get_by_role("button", name="Verify code").click()
    expect_result(page, "POST /auth/mfa/verify", 200)

    # Turn it off (with another recovery code): the password alone logs in again.
    page.get_by_role("link", name="Second factor").click()
    page.locator("#mfa-manage-password").fill(STRONG_PASSWORD)
    page.locator("#mfa-manage-code").fill(codes.nth(1).inner_text())
    page.get_by_role("button", name="Turn off").click()
    expect_result(page, "POST /auth/mfa/totp/disable", 204)
    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    expect(output(page)).to_contain_text('"access_token"')
    expect(page.locator("#mfa-step")).to_be_hidden()
