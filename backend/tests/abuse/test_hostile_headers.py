"""Header text the client chooses reaches the audit trail and the sessions table:
whatever bytes it holds, the request is answered as it would be without them, and
what is stored is readable text (PostgreSQL refuses NUL in text; SQLite stores it)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_problem, auth_events, login
from authapi.client_address import UNKNOWN_CLIENT
from support import STRONG_PASSWORD, bearer, signup, unique_email

PROXY = "127.0.0.1"

HOSTILE_USER_AGENTS = [
    pytest.param(b"agent\x00with-nul", "agent\ufffdwith-nul", id="nul"),
    pytest.param(b"\x01\x07\x1b[31m\x7f", "\ufffd\ufffd\ufffd[31m\ufffd", id="controls"),
    pytest.param(b"tab\there", "tab\ufffdhere", id="tab"),
    # Bytes that are not UTF-8 are read as Latin-1 (HTTP's reading), C1 controls replaced
    pytest.param(b"caf\xe9 \x85", "caf\u00e9 \ufffd", id="latin-1-with-c1"),
    # An encoded lone surrogate is not UTF-8 either
    pytest.param(b"\xed\xa0\x80", "\u00ed\u00a0\ufffd", id="encoded-surrogate"),
    pytest.param("Pixel 9 — テスト".encode(), "Pixel 9 — テスト", id="utf-8"),
    pytest.param(b"x" * 5000, "x" * 512, id="long"),
]


def _client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app behind a trusted proxy on loopback, with room for many requests."""
    app = make_client(rate_limit_auth="1000/minute", trusted_proxies=[PROXY]).app
    return TestClient(app, client=(PROXY, 50000), raise_server_exceptions=False)


def _events(client: TestClient, created: dict[str, Any]) -> list[dict[str, Any]]:
    response = auth_events(client, created["user"]["id"], created["access_token"], limit=100)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(("sent", "stored"), HOSTILE_USER_AGENTS)
def test_any_user_agent_is_stored_readable_and_the_request_answered(
    make_client: Callable[..., TestClient], sent: bytes, stored: str
) -> None:
    client = _client(make_client)
    email = unique_email()
    headers = [(b"user-agent", sent)]
    created = client.post(
        "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert (
        client.post(
            "/auth/login", json={"email": email, "password": "Wrong-password-1"}, headers=headers
        ).status_code
        == 401
    )
    logged_in = client.post(
        "/auth/login", json={"email": email, "password": STRONG_PASSWORD}, headers=headers
    )
    assert logged_in.status_code == 200, logged_in.text

    events = _events(client, created.json())
    assert [event["event_type"] for event in events] == [
        "login_success",
        "login_failure",
        "signup",
    ], "the failure's row too: it is written in a transaction of its own"
    assert {event["user_agent"] for event in events} == {stored}
    sessions = client.get("/auth/sessions", headers=bearer(logged_in.json()["access_token"]))
    assert {row["user_agent"] for row in sessions.json()} == {stored}


@pytest.mark.parametrize(
    "forwarded",
    [
        pytest.param("fe80::1%" + "a" * 100, id="ipv6-zone-too-long-for-the-column"),
        pytest.param("fe80::1%\x00", id="ipv6-zone-with-nul"),
        pytest.param("203.0.113.7\x00", id="nul-after-an-address"),
        pytest.param("203.0.113.7, fe80::1%eth0", id="zone-in-the-proxy-written-entry"),
        pytest.param("\u00e9" * 3000, id="long-garbage"),
    ],
)
def test_a_garbled_forwarded_for_from_a_trusted_proxy_makes_the_client_unknown(
    make_client: Callable[..., TestClient], forwarded: str
) -> None:
    """An IPv6 zone names an interface of the proxy's host, not a client: such an
    entry is garbled like any other, and the client is `unknown` (never the proxy's
    own address, which behind a local proxy is loopback and may read /metrics)."""
    client = _client(make_client)
    created = signup(client)
    headers = [(b"x-forwarded-for", forwarded.encode())]

    refused = login(client, created["user"]["email"], "Wrong-password-1", headers=headers)
    assert_problem(refused, 401, "invalid_credentials")
    answered = login(client, created["user"]["email"], headers=headers)
    assert answered.status_code == 200, answered.text

    events = _events(client, created)
    assert [event["ip_address"] for event in events[:2]] == [UNKNOWN_CLIENT, UNKNOWN_CLIENT]


def test_a_plain_forwarded_address_from_a_trusted_proxy_is_believed(
    make_client: Callable[..., TestClient],
) -> None:
    client = _client(make_client)
    created = signup(client)
    headers = {"X-Forwarded-For": "2001:db8::7, 203.0.113.7"}

    assert login(client, created["user"]["email"], headers=headers).status_code == 200

    assert _events(client, created)[0]["ip_address"] == "203.0.113.7"


@pytest.mark.parametrize("request_id", [b"id\x00nul", b"\xff\xfe", b"a" * 65, b"ok id"])
def test_an_unusable_request_id_is_replaced_not_stored(
    make_client: Callable[..., TestClient], request_id: bytes
) -> None:
    client = _client(make_client)
    created = signup(client)

    response = login(
        client,
        created["user"]["email"],
        "Wrong-password-1",
        headers=[(b"x-request-id", request_id)],
    )

    assert_problem(response, 401, "invalid_credentials")
    generated = response.headers["X-Request-ID"]
    assert generated.encode() != request_id
    assert _events(client, created)[0]["request_id"] == generated


def test_login_finds_an_address_typed_in_decomposed_unicode(
    make_client: Callable[..., TestClient],
) -> None:
    """Signup stores the composed form (NFC); a keyboard may send `e` + accent."""
    client = _client(make_client)
    composed = f"jos\u00e9-{unique_email()}"
    signup(client, composed)
    decomposed = unicodedata.normalize("NFD", composed).upper()
    assert decomposed != composed

    response = login(client, decomposed)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == composed
