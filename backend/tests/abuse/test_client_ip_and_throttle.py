"""Which client a limit counts, and the per-account throttle behind the per-IP one."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from support import STRONG_PASSWORD, signup, unique_email


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
