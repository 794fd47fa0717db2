"""A login storm must not take the database away from every other request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from authapi.security import PasswordHasher
from support import STRONG_PASSWORD, bearer, signup, unique_email

WAITING_LOGINS = 4


def wait_for_queue(hasher: PasswordHasher, length: int) -> None:
    """Until `length` hashes wait for the hasher; past the pool's 10 s timeout, a
    login that could not get a connection would have failed instead of queueing."""
    deadline = time.monotonic() + 15
    while (queued := hasher._pool._work_queue.qsize()) < length:
        assert time.monotonic() < deadline, (
            f"only {queued} of {length} logins reached the hasher: the others waited "
            "for a database connection that the queued ones held"
        )
        time.sleep(0.01)


def test_logins_waiting_for_the_hasher_hold_no_database_connection(
    make_client: Callable[..., TestClient],
) -> None:
    """A login waits its turn at the hasher for as long as the logins before it take.
    Meanwhile it must hold none of the pool's connections: 32 logins used to hold all
    20, and refresh, logout, signup and the metrics scrape waited for them (or failed
    after the pool's 10 s timeout).

    Here the hasher is busy (its threads wait on a gate), four logins queue behind
    it, and the pool has two connections (DB_POOL_SIZE=1 and as many overflow)."""
    client = make_client(db_pool_size=1, rate_limit_auth="1000/minute")
    email = unique_email()
    token = signup(client, email)["access_token"]
    hasher: PasswordHasher = client.app.state.hasher  # type: ignore[attr-defined]
    gate = threading.Event()
    busy = [hasher._pool.submit(gate.wait) for _ in range(hasher._pool._max_workers)]
    credentials = {"email": email, "password": STRONG_PASSWORD}
    with ThreadPoolExecutor(WAITING_LOGINS) as threads:
        try:
            logins = [
                threads.submit(client.post, "/auth/login", json=credentials)
                for _ in range(WAITING_LOGINS)
            ]
            wait_for_queue(hasher, WAITING_LOGINS)

            listed = client.get("/auth/sessions", headers=bearer(token))
            assert listed.status_code == 200, listed.text
            assert len(listed.json()) == 1  # the signup's session, no login's yet
        finally:
            gate.set()
        answers: list[httpx.Response] = [login.result(timeout=30) for login in logins]
    assert all(blocker.done() for blocker in busy)
    assert [answer.status_code for answer in answers] == [200] * WAITING_LOGINS
    after = client.get("/auth/sessions", headers=bearer(token))
    assert len(after.json()) == 1 + WAITING_LOGINS
