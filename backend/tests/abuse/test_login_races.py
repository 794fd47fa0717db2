"""A login takes 200 ms or more to verify a password after reading the account: what
happens to the account meanwhile must win over the login."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from support import STRONG_PASSWORD, HeldHasher, signup, unique_email

CHANGES = {
    # A password change (or reset) that commits while the login verifies the old one.
    "password_changed": "UPDATE users SET password_hash = 'changed' WHERE email = :email",
    # An administrator's `users disable`.
    "disabled": "UPDATE users SET is_active = false WHERE email = :email",
}


def count(engine: Engine, sql: str, email: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), {"email": email}).scalar_one())


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_committed_while_a_login_hashes_wins(
    make_client: Callable[..., TestClient], change: str
) -> None:
    """The login gets the one 401 and leaves no session: a session issued on the old
    password would outlive the change's "log out everywhere"."""
    client = make_client(rate_limit_auth="1000/minute")
    email = unique_email()
    signup(client, email)
    engine: Engine = client.app.state.container.engine  # type: ignore[attr-defined]
    credentials = {"email": email, "password": STRONG_PASSWORD}
    with ThreadPoolExecutor(1) as thread, HeldHasher(client.app) as hasher:
        login = thread.submit(client.post, "/auth/login", json=credentials)
        hasher.wait_for_queue(1)  # read the account; waiting to verify the password
        with engine.begin() as connection:
            connection.execute(text(CHANGES[change]), {"email": email})
    answer = login.result(timeout=30)

    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "invalid_credentials"
    sessions = "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
    assert count(engine, sessions + "WHERE u.email = :email", email) == 1  # the signup's
    last_login = "SELECT count(last_login_at) FROM users WHERE email = :email"
    assert count(engine, last_login, email) == 0
    audited = (
        "SELECT count(*) FROM auth_events WHERE email = :email "
        "AND event_type = 'login_failure' AND reason = 'changed_while_hashing'"
    )
    assert count(engine, audited, email) == 1
