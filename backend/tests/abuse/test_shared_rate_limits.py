"""Per-IP limits that hold across instances, and that survive their storage failing."""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from servers import authapi_server, free_port, private_redis, redis_reachable, wait_for
from support import unique_email

REDIS_URL = "redis://127.0.0.1:6379/0"

needs_redis = pytest.mark.skipif(
    not redis_reachable(),
    reason="Redis at 127.0.0.1:6379 is unreachable: start it with "
    "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`",
)


def random_client_ip() -> str:
    """A fresh documentation-range address per test, so counts in the shared Redis
    never carry over from another test or another run."""
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def login_body() -> dict[str, str]:
    return {"email": unique_email("nobody"), "password": "Wrong-password-1"}


@needs_redis
def test_two_app_instances_share_one_count_through_redis(
    make_client: Callable[..., TestClient],
) -> None:
    first, second = (make_client(rate_limit_storage_uri=REDIS_URL) for _ in range(2))
    ip = random_client_ip()
    instances = [TestClient(c.app, client=(ip, 5000)) for c in (first, second)]

    statuses = [
        instance.post("/auth/login", json=login_body()).status_code
        for instance in itertools.islice(itertools.cycle(instances), 6)
    ]

    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    # and the other instance refuses too: the count is shared, not per process
    assert instances[0].post("/auth/login", json=login_body()).status_code == 429


@needs_redis
@pytest.mark.slow
def test_two_server_processes_share_one_count_through_redis(tmp_path: Path) -> None:
    """Two real uvicorn processes on one database and one Redis: the 6th request from
    one client is refused whichever process gets it."""
    ip = random_client_ip()
    # The test runs on 127.0.0.1, so it plays a trusted proxy to present distinct IPs.
    settings = {"RATE_LIMIT_STORAGE_URI": REDIS_URL, "TRUSTED_PROXIES": "127.0.0.1"}
    with (
        authapi_server(tmp_path, **settings) as first,
        authapi_server(tmp_path, **settings) as second,
    ):
        headers = {"X-Forwarded-For": ip}
        statuses = [
            httpx.post(f"{base}/auth/login", json=login_body(), headers=headers).status_code
            for base in [first, second, first, second, first, second, first]
        ]
    assert statuses == [401] * 5 + [429, 429]


def test_unreachable_storage_fails_open_to_a_per_process_limit(
    make_client: Callable[..., TestClient],
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = make_client(rate_limit_storage_uri=closed)

    statuses = [client.post("/auth/login", json=login_body()).status_code for _ in range(6)]

    assert statuses == [401] * 5 + [429], "still limited, by the in-memory fallback"
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded",
        "database": "ok",
        "rate_limit_storage": "unavailable",
    }


def test_storage_stopping_mid_run_never_gives_a_500(
    make_client: Callable[..., TestClient],
) -> None:
    port = free_port()
    with private_redis(port) as redis_process:
        client = make_client(rate_limit_storage_uri=f"redis://127.0.0.1:{port}/0")
        assert client.post("/auth/login", json=login_body()).status_code == 401
        assert client.get("/health").json()["rate_limit_storage"] == "ok"

        redis_process.kill()
        redis_process.wait(timeout=10)

        after = [client.post("/auth/login", json=login_body()) for _ in range(6)]
        statuses = [response.status_code for response in after]
        assert all(status < 500 for status in statuses), statuses
        assert statuses[-1] == 429, "the fallback keeps counting"
        assert client.get("/health").json()["rate_limit_storage"] == "unavailable"

    with private_redis(port):
        wait_for(
            lambda: client.get("/health").json()["rate_limit_storage"] == "ok",
            10,
            "health to see the storage again",
        )


def test_a_hung_storage_falls_back_instead_of_failing(
    make_client: Callable[..., TestClient],
) -> None:
    """A Redis that accepts connections and never answers (a hung server, a
    black-holing firewall): requests are answered, limits keep counting locally."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept_forever() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept_forever, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        client = make_client(rate_limit_storage_uri=f"redis://127.0.0.1:{port}/0")
        statuses = [client.post("/auth/login", json=login_body()).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert client.get("/health").json()["status"] == "degraded"
    finally:
        listener.close()
        for sock in accepted:
            sock.close()


@needs_redis
def test_failed_login_count_for_an_account_is_shared_through_redis(
    make_client: Callable[..., TestClient],
) -> None:
    """The per-account throttle lives in the same storage: failures counted by one
    instance lock the account on the other."""
    first, second = (
        make_client(
            rate_limit_storage_uri=REDIS_URL,
            rate_limit_auth="1000/minute",
            login_failure_limit=3,
        )
        for _ in range(2)
    )
    body = login_body()  # a fresh email, so no earlier run's count applies
    statuses = [c.post("/auth/login", json=body).status_code for c in (first, second, first)]
    assert statuses == [401, 401, 401]
    locked = second.post("/auth/login", json=body)
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"


def _alternate_login_and_token(client: TestClient, count: int) -> list[int]:
    """Wrong passwords, alternately by JSON login and by the OAuth2 token form."""
    statuses = []
    for index in range(count):
        if index % 2 == 0:
            response = client.post("/auth/login", json=login_body())
        else:
            body = login_body()
            form = {"username": body["email"], "password": body["password"]}
            response = client.post("/auth/token", data=form)
        statuses.append(response.status_code)
    return statuses


def test_login_and_token_share_one_count_in_memory_while_the_storage_is_unreachable(
    make_client: Callable[..., TestClient],
) -> None:
    """The per-process fallback keeps the shared scope: two endpoints checking the
    same credentials do not double the guesses while Redis is down."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = make_client(rate_limit_storage_uri=closed)

    assert _alternate_login_and_token(client, 6) == [401] * 5 + [429]
    assert (
        client.post("/auth/token", data={"username": "a@example.com", "password": "x"}).json()[
            "code"
        ]
        == "rate_limited"
    )
    assert client.get("/health").json()["rate_limit_storage"] == "unavailable"


def test_password_reset_endpoints_share_one_count_in_memory_while_the_storage_is_unreachable(
    make_client: Callable[..., TestClient],
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = make_client(rate_limit_storage_uri=closed)
    forgot = {"email": unique_email("nobody")}
    reset = {"token": "A" * 43, "new_password": "Another-password-9"}

    statuses = [
        client.post(path, json=body).status_code
        for path, body in itertools.islice(
            itertools.cycle([("/auth/password/forgot", forgot), ("/auth/password/reset", reset)]),
            6,
        )
    ]

    assert statuses == [202, 400, 202, 400, 202, 429]


def test_the_shared_count_goes_on_in_memory_when_redis_stops_mid_run(
    make_client: Callable[..., TestClient],
) -> None:
    """Redis answers, then is killed: from then on login and token keep one count
    in memory (the attempts Redis had counted are gone with it)."""
    port = free_port()
    with private_redis(port) as redis_process:
        client = make_client(rate_limit_storage_uri=f"redis://127.0.0.1:{port}/0")
        assert _alternate_login_and_token(client, 2) == [401, 401]
        assert client.get("/health").json()["rate_limit_storage"] == "ok"

        redis_process.kill()
        redis_process.wait(timeout=10)

        assert _alternate_login_and_token(client, 6) == [401] * 5 + [429]
        assert client.get("/health").json()["rate_limit_storage"] == "unavailable"
