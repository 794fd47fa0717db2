"""The example SPA's admin page in a real Chromium, against a real authapi server:
an admin finds a user by the start of their email, disables them with a reason (and
the user can no longer sign in), enables them, then signs in as another user and
back as themselves."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser.spa_helpers import expect_result, log_in, output, workdir
from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


def make_admin(api_dir: Path, email: str) -> None:
    """What `python -m authapi users set-role EMAIL admin` writes (the first admin is
    made in the shell; the shell's own test runs the command)."""
    with sqlite3.connect(api_dir / "authapi.db") as database:
        database.execute("UPDATE users SET role = 'admin' WHERE email = ?", (email,))


def test_an_admin_finds_a_user_disables_them_and_impersonates_another(
    page: Page, spa_origin: str, tmp_path: Path, script_errors: list[str]
) -> None:
    admin, target, other = (unique_email(name) for name in ("boss", "mallory", "carol"))
    api_dir = workdir(tmp_path, "api")
    with authapi_server(api_dir, CORS_ORIGINS=spa_origin, RATE_LIMIT_AUTH="1000/minute") as api:
        for email in (admin, target, other):
            created = httpx.post(
                f"{api}/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
            )
            assert created.status_code == 201, created.text
        make_admin(api_dir, admin)
        page.goto(f"{spa_origin}/?api={api}")
        log_in(page, admin, STRONG_PASSWORD)
        expect_result(page, "POST /auth/login", 200)

        page.goto(f"{spa_origin}/?api={api}#/admin")
        page.locator("#admin-query").fill(target.split("@")[0].upper())
        page.get_by_role("button", name="Search").click()
        row = page.locator(f'#admin-users li[data-email="{target}"]')
        expect(row).to_contain_text(f"{target}, user, active")
        expect(page.locator("#admin-users li")).to_have_count(1)

        page.locator("#admin-reason").fill("chargeback")
        row.get_by_role("button", name="Disable").click()
        expect(row).to_contain_text("disabled: chargeback")
        refused = httpx.post(
            f"{api}/auth/login", json={"email": target, "password": STRONG_PASSWORD}
        )
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials")

        row.get_by_role("button", name="Enable").click()
        expect(row).to_contain_text(f"{target}, user, active")
        back = httpx.post(f"{api}/auth/login", json={"email": target, "password": STRONG_PASSWORD})
        assert back.status_code == 200

        page.locator("#admin-query").fill(other)
        page.get_by_role("button", name="Search").click()
        page.locator(f'#admin-users li[data-email="{other}"]').get_by_role(
            "button", name="Impersonate"
        ).click()
        expect(page.locator("#impersonation")).to_be_visible()
        expect(page.locator("#impersonated-email")).to_have_text(other)
        page.goto(f"{spa_origin}/?api={api}#/")
        page.get_by_role("button", name="Me").click()
        expect_result(page, "GET /auth/me", 200)
        expect(output(page)).to_contain_text(f'"email": "{other}"')
        expect(output(page)).to_contain_text('"impersonated_by": "')

        page.get_by_role("button", name="Stop impersonating").click()
        expect(page.locator("#impersonation")).to_be_hidden()
        page.get_by_role("button", name="Me").click()
        expect_result(page, "GET /auth/me", 200)
        expect(output(page)).to_contain_text(f'"email": "{admin}"')
        expect(output(page)).to_contain_text('"impersonated_by": null')
