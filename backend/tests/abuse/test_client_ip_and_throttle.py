"""Which client a limit counts, and the per-account throttle behind the per-IP one."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from authapi.models import AuthEvent
from servers import redis_reachable
from support import STRONG_PASSWORD, HeldHasher, bearer, signup, unique_email


def _login(client: TestClient, email: str, password: str, **headers: str) -> int:
    response = client.post(
        "/auth/login", json={"email": email, "password": password}, headers=headers
    )
    return response.status_code


def test_spoofed_forwarded_for_from_an_untrusted_peer_does_not_reset_the_count(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client().app  # TRUSTED_PROXIES empty: the default
    client = TestClient(app, client=("203.0.113.50", 4000))

    statuses = [
        _login(client, unique_email(), "Wrong-pass-1", **{"X-Forwarded-For": f"192.0.2.{n}"})
        for n in range(6)
    ]

    assert statuses == [401] * 5 + [429]


def test_a_trusted_proxy_gives_each_forwarded_client_its_own_count(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(trusted_proxies="10.0.0.0/8").app
    proxy = TestClient(app, client=("10.1.2.3", 4000))

    first = [
        _login(proxy, unique_email(), "Wrong-pass-1", **{"X-Forwarded-For": "192.0.2.10"})
        for _ in range(6)
    ]
    # A client's own spoofed entry left of the proxy's is ignored: the proxy appended
    # the real address last, and that is what counts.
    other = _login(
        proxy, unique_email(), "Wrong-pass-1", **{"X-Forwarded-For": "192.0.2.10, 192.0.2.11"}
    )

    assert first == [401] * 5 + [429]
    assert other == 401


def test_failed_logins_for_one_email_are_throttled_across_ips(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(login_failure_limit=3).app
    email = unique_email("victim")
    signup(TestClient(app, client=("192.0.2.1", 1)), email)

    # Each attempt from another address: the per-IP limit never applies.
    attempts = [
        TestClient(app, client=(f"192.0.2.{n}", 1)).post(
            "/auth/login", json={"email": email, "password": "Wrong-pass-1"}
        )
        for n in range(10, 14)
    ]

    assert [r.status_code for r in attempts] == [401, 401, 401, 429]
    throttled = attempts[-1]
    assert throttled.json()["code"] == "too_many_attempts"
    assert int(throttled.headers["Retry-After"]) > 0
    # Even the right password waits: the attacker must not learn it was right.
    right = TestClient(app, client=("192.0.2.99", 1)).post(
        "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert right.status_code == 429


def test_unknown_emails_are_throttled_the_same_way(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(login_failure_limit=2).app
    email = unique_email("ghost")
    statuses = [
        TestClient(app, client=(f"192.0.2.{n}", 1))
        .post("/auth/login", json={"email": email, "password": "Wrong-pass-1"})
        .status_code
        for n in range(20, 23)
    ]
    assert statuses == [401, 401, 429]


def test_the_owners_success_does_not_reset_an_attackers_count(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(login_failure_limit=3).app
    email = unique_email("owner")
    signup(TestClient(app, client=("192.0.2.1", 1)), email)

    def attempt(ip: str, password: str) -> int:
        return _login(TestClient(app, client=(ip, 1)), email, password)

    assert attempt("192.0.2.30", "Wrong-pass-1") == 401
    assert attempt("192.0.2.31", "Wrong-pass-1") == 401
    assert attempt("192.0.2.32", STRONG_PASSWORD) == 200
    assert attempt("192.0.2.33", "Wrong-pass-1") == 401
    assert attempt("192.0.2.34", "Wrong-pass-1") == 429


# -- finding 3: the throttle under concurrency ---------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/0"
STORAGES = [
    "memory://",
    pytest.param(
        REDIS_URL,
        marks=pytest.mark.skipif(not redis_reachable(), reason="Redis at 127.0.0.1:6379 is down"),
    ),
]


@pytest.mark.parametrize("storage", STORAGES, ids=["memory", "redis"])
def test_concurrent_guesses_for_one_account_get_at_most_the_limit_checked(
    make_client: Callable[..., TestClient], storage: str
) -> None:
    """Thirty guesses arriving at once from thirty IPs: ten reach bcrypt, the rest are
    refused before it, and the right password sent while the ten are being checked
    is refused too. (Checked first and counted after, all thirty were hashed and the
    right one logged in.)"""
    app = make_client(
        login_failure_limit=10, rate_limit_auth="1000/minute", rate_limit_storage_uri=storage
    ).app
    email = unique_email("raced")
    signup(TestClient(app, client=("192.0.2.1", 1)), email)

    def attempt(n: int, password: str) -> int:
        return _login(TestClient(app, client=(f"198.51.100.{n}", 1)), email, password)

    with ThreadPoolExecutor(max_workers=30) as pool, HeldHasher(app) as hasher:
        wrong = [pool.submit(attempt, n, f"Wrong-pass-{n}") for n in range(29)]
        hasher.wait_for_queue(10)  # ten guesses hold their attempt, waiting to be hashed
        refused_at_once = _answered(wrong, 19)
        right = pool.submit(attempt, 99, STRONG_PASSWORD)
        assert right.result(timeout=30) == 429
    statuses = [f.result(timeout=30) for f in wrong]

    assert refused_at_once == [429] * 19
    assert sorted(statuses) == [401] * 10 + [429] * 19


def _answered(futures: list[Future[int]], count: int, seconds: float = 15) -> list[int]:
    """The answers of the first `count` requests to finish (the others are held)."""
    deadline = time.monotonic() + seconds
    while sum(f.done() for f in futures) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [f.result() for f in futures if f.done()]


# -- finding 4: IPv6 networks and IPv4-mapped addresses ------------------------------------


def test_one_ipv6_network_shares_one_per_ip_limit(
    make_client: Callable[..., TestClient],
) -> None:
    """A client owns its /64: twelve addresses of it get one count of five."""
    app = make_client(rate_limit_auth="5/minute").app
    statuses = [
        _login(TestClient(app, client=(f"2001:db8:1:2::{n:x}", 1)), unique_email(), "Wrong-1")
        for n in range(1, 13)
    ]
    other_network = _login(TestClient(app, client=("2001:db8:1:3::1", 1)), unique_email(), "W-1")

    assert statuses == [401] * 5 + [429] * 7
    assert other_network == 401


def test_the_ipv6_prefix_is_configurable(make_client: Callable[..., TestClient]) -> None:
    app = make_client(rate_limit_auth="2/minute", rate_limit_ipv6_prefix=48).app
    statuses = [
        _login(TestClient(app, client=(f"2001:db8:1:{n:x}::1", 1)), unique_email(), "Wrong-1")
        for n in range(1, 4)
    ]
    assert statuses == [401, 401, 429]


def test_an_ipv4_client_through_ipv6_shares_its_ipv4_count(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(rate_limit_auth="3/minute").app
    statuses = [
        _login(TestClient(app, client=(peer, 1)), unique_email(), "Wrong-1")
        for peer in ("192.0.2.77", "::ffff:192.0.2.77", "::ffff:c000:24d", "192.0.2.77")
    ]
    assert statuses == [401, 401, 401, 429]


def test_an_ipv6_flood_is_counted_in_one_row_per_network(
    make_client: Callable[..., TestClient],
) -> None:
    """The audit's flood rows count a network as one client too: twelve addresses of
    one /64 sending bad tokens cost one row, not twelve."""
    base = make_client()
    for n in range(1, 13):
        peer = TestClient(base.app, client=(f"2001:db8:5:6::{n:x}", 1))
        assert peer.get("/auth/me", headers=bearer("not-a-token")).status_code == 401

    with Session(base.app.state.container.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(AuthEvent).where(col(AuthEvent.ip_address).startswith("2001:db8:5:6:"))
        ).all()
    assert [(row.ip_address, row.count) for row in rows] in (
        [("2001:db8:5:6::/64", 12)],
        # the requests straddled a minute: one row per minute
        [("2001:db8:5:6::/64", rows[0].count), ("2001:db8:5:6::/64", 12 - rows[0].count)],
    )


# -- finding 8: a garbled X-Forwarded-For --------------------------------------------------


def test_a_garbled_forwarded_for_behind_a_local_proxy_does_not_open_metrics(
    make_client: Callable[..., TestClient],
) -> None:
    """Behind a proxy on loopback, a garbled entry used to make the client the proxy
    itself, which /metrics allows; now the client is unknown, allowed nowhere."""
    app = make_client(trusted_proxies="127.0.0.1").app
    proxy = TestClient(app, client=("127.0.0.1", 4000))

    assert proxy.get("/metrics").status_code == 200  # the proxy itself may
    for garbled in ("not-an-ip", "203.0.113.9, <script>", "::1%eth0", ", ,"):
        assert proxy.get("/metrics", headers={"X-Forwarded-For": garbled}).status_code == 404


def test_clients_behind_garbled_forwarded_for_share_one_limit(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(trusted_proxies="10.0.0.0/8", rate_limit_auth="3/minute").app
    proxy = TestClient(app, client=("10.1.2.3", 4000))
    statuses = [
        _login(proxy, unique_email(), "Wrong-pass-1", **{"X-Forwarded-For": junk})
        for junk in ("junk-1", "junk-2", "999.1.1.1", "junk-3")
    ]
    assert statuses == [401, 401, 401, 429]
