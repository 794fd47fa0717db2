"""A login storm must not take the database away from every other request."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from support import STRONG_PASSWORD, HeldHasher, bearer, signup, unique_email

WAITING_LOGINS = 4


def test_logins_waiting_for_the_hasher_hold_no_database_connection(
    make_client: Callable[..., TestClient],
) -> None:
    """A login waits its turn at the hasher for as long as the logins before it take.
    Meanwhile it must hold none of the pool's connections: 32 logins used to hold all
    20, and refresh, logout, signup and the metrics scrape waited for them (or failed
    after the pool's 10 s timeout).

    Here four logins queue behind a busy hasher while the pool has two connections
    (DB_POOL_SIZE=1 and as many overflow); with the connections held, only two
    logins would reach the hasher and the listing would wait."""
    client = make_client(db_pool_size=1, rate_limit_auth="1000/minute")
    email = unique_email()
    token = signup(client, email)["access_token"]
    credentials = {"email": email, "password": STRONG_PASSWORD}
    with ThreadPoolExecutor(WAITING_LOGINS) as threads:
        with HeldHasher(client.app) as hasher:
            logins = [
                threads.submit(client.post, "/auth/login", json=credentials)
                for _ in range(WAITING_LOGINS)
            ]
            hasher.wait_for_queue(WAITING_LOGINS)

            listed = client.get("/auth/sessions", headers=bearer(token))
            assert listed.status_code == 200, listed.text
            assert len(listed.json()) == 1  # the signup's session, no login's yet
        statuses = [login.result(timeout=30).status_code for login in logins]
    assert statuses == [200] * WAITING_LOGINS
    after = client.get("/auth/sessions", headers=bearer(token))
    assert len(after.json()) == 1 + WAITING_LOGINS
