"""`python -m authapi users ...` end to end: real processes on a real database (SQLite
and PostgreSQL), checked through the app and the audit table.

Each process spends over a second importing SQLAlchemy, so independent invocations
run side by side, each test starts as few as it can, and the checks that do not
depend on the database run on SQLite only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

import authapi
from api.test_api_mfa import enrol
from authapi.config import Settings
from authapi.models import Identity
from support import STRONG_PASSWORD, TEST_MFA_KEY, TEST_SECRET, bearer, signup, unique_email

pytestmark = pytest.mark.slow

SHELL_AGENT = "authapi-cli"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Callable[..., list[Run]]:
    """Run one or more `users` commands at once; each is (args, stdin) or args."""
    env = {
        # The caller's own authapi settings must not leak into the command under test.
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "BCRYPT_ROUNDS": "4",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(authapi.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }

    def run(*commands: list[str] | tuple[list[str], str]) -> list[Run]:
        processes = []
        for command in commands:
            args, stdin = command if isinstance(command, tuple) else (command, "")
            process = subprocess.Popen(
                [sys.executable, "-m", "authapi", "users", *args],
                cwd=tmp_path,  # no developer .env is read
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            processes.append((process, stdin))
        results = []
        for process, stdin in processes:
            out, err = process.communicate(stdin, timeout=60)
            results.append(Run(process.returncode, out, err))
        return results

    return run


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(rate_limit_auth="1000/minute")


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def audit_rows(db: Engine, user_id: str) -> list[dict[str, Any]]:
    with db.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT event_type, email, reason, ip_address, user_agent, request_id "
                "FROM auth_events WHERE user_id = :user_id ORDER BY created_at"
            ),
            {"user_id": user_id.replace("-", "") if db.dialect.name == "sqlite" else user_id},
        )
        return [dict(row._mapping) for row in rows]


def shell_row(db: Engine, user_id: str, event_type: str) -> dict[str, Any]:
    rows = [row for row in audit_rows(db, user_id) if row["event_type"] == event_type]
    assert len(rows) == 1, audit_rows(db, user_id)
    row = rows[0]
    assert (row["reason"], row["user_agent"], row["ip_address"], row["request_id"]) == (
        "shell",
        SHELL_AGENT,
        None,
        None,
    )
    return row


def login(api: TestClient, email: str, password: str = STRONG_PASSWORD) -> Any:
    return api.post("/auth/login", json={"email": email, "password": password})


def assert_one_line_error(run: Run, *words: str) -> None:
    assert run.code == 1, run
    assert "Traceback" not in run.err
    assert run.err.startswith("authapi: "), run.err
    for word in words:
        assert word in run.err, run.err


def test_create_then_the_user_logs_in_and_is_listed_and_shown(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    email = unique_email("ada")
    (created,) = cli(
        (["create", email.upper(), "--name", "Ada", "--password-stdin"], "Correct7Horse!\n")
    )
    assert created.code == 0, created
    assert email in created.out

    response = login(api, email)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    user_id = api.get("/auth/me", headers=bearer(token)).json()["id"]
    row = shell_row(db, user_id, "user_created")
    assert row["email"] == email

    other = signup(api)["user"]["email"]  # newer, so listed first
    listing, shown, filtered = cli(
        ["list"], ["show", email], ["list", "--email-contains", "ADA-", "--limit", "5"]
    )
    assert listing.code == shown.code == filtered.code == 0, (listing, shown, filtered)
    header, *lines = listing.out.splitlines()
    assert header.split() == ["email", "id", "active", "verified", "created", "last", "login"]
    assert [line.split()[0] for line in lines] == [other, email]
    assert lines[1].split()[1:4] == [user_id, "yes", "no"]
    assert [line.split()[0] for line in filtered.out.splitlines()[1:]] == [email]
    assert f"email:           {email}" in shown.out
    assert "name:            Ada" in shown.out
    assert "active sessions: 1" in shown.out
    assert "second factor:   off" in shown.out
    assert "$2" not in shown.out  # no hash


def test_create_refuses_a_weak_password_a_taken_email_and_a_bad_email(
    cli: Callable[..., list[Run]], api: TestClient
) -> None:
    taken = signup(api)["user"]["email"]
    weak, duplicate, bad, no_stdin = cli(
        (["create", unique_email(), "--password-stdin"], "password\n"),
        (["create", taken, "--password-stdin"], f"{STRONG_PASSWORD}\n"),
        (["create", "Ada <ada@example.com>", "--password-stdin"], f"{STRONG_PASSWORD}\n"),
        ["create", unique_email()],  # stdin is not a terminal: no prompt
    )
    assert_one_line_error(weak, "password rules", "missing_uppercase", "missing_digit")
    assert "common_password" in weak.err  # each broken rule on its own line
    assert len(weak.err.splitlines()) == 4
    assert_one_line_error(duplicate, "already exists")
    assert_one_line_error(bad, "invalid email")
    assert_one_line_error(no_stdin, "--password-stdin")
    assert login(api, "ada@example.com").status_code == 401


def test_disable_revokes_tokens_and_enable_lets_the_user_back_in(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    body = signup(api)
    email, user_id, token = body["user"]["email"], body["user"]["id"], body["access_token"]

    (disabled,) = cli(["disable", email])
    assert disabled.code == 0, disabled
    assert "1 session(s) revoked" in disabled.out
    me = api.get("/auth/me", headers=bearer(token))
    assert (me.status_code, me.json()["code"]) == (401, "token_revoked")
    assert login(api, email).status_code == 401
    assert shell_row(db, user_id, "user_disabled")["email"] == email

    (enabled,) = cli(["enable", email])
    assert enabled.code == 0, enabled
    assert login(api, email).status_code == 200
    assert api.get("/auth/me", headers=bearer(token)).status_code == 401  # revoked stays
    shell_row(db, user_id, "user_enabled")


def test_revoke_sessions_logs_the_user_out_everywhere(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    body = signup(api)
    email, user_id = body["user"]["email"], body["user"]["id"]
    second = login(api, email).json()["access_token"]

    (revoked,) = cli(["revoke-sessions", email])
    assert revoked.code == 0, revoked
    assert "revoked 2 session(s)" in revoked.out
    for token in (body["access_token"], second):
        me = api.get("/auth/me", headers=bearer(token))
        assert (me.status_code, me.json()["code"]) == (401, "token_revoked")
    assert login(api, email).status_code == 200  # still active
    shell_row(db, user_id, "sessions_revoked")


def test_delete_needs_yes_and_keeps_the_audit_rows_without_the_email(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    body = signup(api)
    email, user_id = body["user"]["email"], body["user"]["id"]

    (refused,) = cli(["delete", email])
    assert_one_line_error(refused, "--yes")
    assert login(api, email).status_code == 200

    (deleted,) = cli(["delete", email, "--yes"])
    assert deleted.code == 0, deleted
    assert login(api, email).status_code == 401
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    rows = audit_rows(db, user_id)
    assert {"signup", "login_success", "account_deleted"} <= {row["event_type"] for row in rows}
    assert all(row["email"] is None for row in rows), rows
    shell_row(db, user_id, "account_deleted")


# The same code path on either database; one run of it is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unknown_email_is_one_line_on_stderr_and_exit_1(
    cli: Callable[..., list[Run]],
) -> None:
    email = unique_email("nobody")
    runs = cli(
        ["show", email],
        ["disable", email],
        ["enable", email],
        ["revoke-sessions", email],
        ["mfa-reset", email],
        ["delete", email, "--yes"],
    )
    for run in runs:
        assert_one_line_error(run, "no user with the email", email)
        assert len(run.err.splitlines()) == 1, run.err
        assert run.out == ""


def test_a_database_error_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'not-migrated.db'}",
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "PYTHONPATH": str(Path(authapi.__file__).resolve().parents[1]),
    }
    run = subprocess.run(
        [sys.executable, "-m", "authapi", "users", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("authapi: database error: "), run.stderr
    assert "Traceback" not in run.stderr


def test_show_says_when_the_second_factor_is_on(
    cli: Callable[..., list[Run]], api: TestClient
) -> None:
    body = signup(api)
    email, token = body["user"]["email"], body["access_token"]
    secret, _codes = enrol(api, token)

    (shown,) = cli(["show", email])

    assert shown.code == 0, shown
    assert "second factor:   on" in shown.out
    assert secret not in shown.out


def test_show_lists_the_provider_accounts_linked_to_it(
    cli: Callable[..., list[Run]], api: TestClient
) -> None:
    body = signup(api)
    email = body["user"]["email"]
    with Session(api.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.add(
            Identity(
                user_id=uuid.UUID(body["user"]["id"]),
                provider="github",
                subject="12345",
                email="octo@example.com",
            )
        )
        session.commit()

    (shown,) = cli(["show", email])

    assert shown.code == 0, shown
    assert "password:        set" in shown.out
    assert "linked:          github (octo@example.com)" in shown.out
    assert "passkeys:        0" in shown.out


def test_the_shell_finds_an_account_under_either_spelling_of_its_domain(
    cli: Callable[..., list[Run]], api: TestClient
) -> None:
    """Finding 12: signup stores the domain IDNA-decoded (`exämple.com`); the shell
    looks an address up in that same form, however it was typed."""
    local = unique_email("idn").split("@")[0]
    punycode, unicode = f"{local}@xn--exmple-cua.com", f"{local}@exämple.com"
    signup(api, punycode)

    as_punycode, as_unicode, revoked = cli(
        ["show", punycode], ["show", f" {unicode.upper()} "], ["revoke-sessions", punycode]
    )

    for shown in (as_punycode, as_unicode):
        assert shown.code == 0, shown
        assert f"email:           {unicode}" in shown.out
    assert revoked.code == 0, revoked
    assert f"of {unicode}" in revoked.out


def test_mfa_reset_turns_every_factor_off_and_is_audited(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    """For support: the factor goes (secret and recovery codes), the password and the
    sessions stay; a user without a factor is a clear error, not a silent success."""
    body = signup(api)
    email, user_id, token = body["user"]["email"], body["user"]["id"], body["access_token"]
    enrol(api, token)
    assert login(api, email).json()["mfa_required"] is True
    plain = signup(api)["user"]["email"]

    reset, without = cli(["mfa-reset", email], ["mfa-reset", plain])

    assert reset.code == 0, reset
    assert f"second factor of {email} turned off" in reset.out
    response = login(api, email)
    assert response.status_code == 200, response.text
    assert "mfa_required" not in response.json()
    me = api.get("/auth/me", headers=bearer(token))  # the session it had stays
    assert (me.status_code, me.json()["mfa_enabled"]) == (200, False)
    assert shell_row(db, user_id, "mfa_reset")["email"] == email
    with db.connect() as connection:
        assert connection.execute(
            text("SELECT totp_secret, mfa_enrolled_unverified FROM users WHERE email = :email"),
            {"email": email},
        ).one() == (None, False)
        assert connection.execute(text("SELECT count(*) FROM recovery_codes")).scalar_one() == 0
    assert_one_line_error(without, "no second factor", plain)
    assert without.out == ""


def test_set_role_makes_the_first_admin_and_keeps_the_last_one(
    cli: Callable[..., list[Run]], api: TestClient, db: Engine
) -> None:
    """The first admin is made in the shell; the shell, like the API, will not demote
    the last one."""
    with db.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'user'"))
    body = signup(api)
    email, user_id, token = body["user"]["email"], body["user"]["id"], body["access_token"]
    assert api.get("/admin/users", headers=bearer(token)).status_code == 403

    promoted, bad_role = cli(["set-role", email, "admin"], ["set-role", email, "root"])

    assert promoted.code == 0, promoted
    assert f"{email} is now an admin" in promoted.out
    assert bad_role.code == 2
    assert "invalid choice" in bad_role.err
    assert api.get("/admin/users", headers=bearer(token)).status_code == 200
    row = shell_row(db, user_id, "role_changed")
    assert row["email"] == email

    (demoted,) = cli(["set-role", email, "user"])
    assert_one_line_error(demoted, "last administrator")
    (shown,) = cli(["show", email])
    assert "role:            admin" in shown.out


def test_show_lists_the_organizations_with_the_role_in_each(
    cli: Callable[..., list[Run]], api: TestClient
) -> None:
    body = signup(api)
    email, token = body["user"]["email"], body["access_token"]
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    made = api.post("/orgs", json={"name": "Acme", "slug": slug}, headers=bearer(token))
    assert made.status_code == 201, made.text

    (shown,) = cli(["show", email])

    assert shown.code == 0, shown
    assert f"org:             Acme ({slug}), owner" in shown.out
