"""Large requests (finding 2 of the outside review), on SQLite and PostgreSQL.

One unauthenticated POST /auth/refresh of a 13 MB JSON object of 700,000 keys took 16 s
to answer (a 422 listing every key) and stalled /health meanwhile. Now:
- a body above MAX_REQUEST_BYTES (64 KiB) gets 413 `payload_too_large` before the app
  reads it: by its Content-Length, or (chunked) as soon as its bytes pass the limit;
- a 422 lists the first 20 field errors and counts them all (`error_count`);
- every POST that takes no bearer token has a per-IP limit, /auth/refresh its own
  (RATE_LIMIT_REFRESH).
"""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from api.api_helpers import assert_problem
from servers import authapi_server
from support import STRONG_PASSWORD, run_coroutine, unique_email

LIMIT = 64 * 1024  # MAX_REQUEST_BYTES' default
APP = "https://app.example"
JSON = {"Content-Type": "application/json"}


def signup_body(email: str, size: int) -> bytes:
    """A valid signup of exactly `size` bytes (JSON allows the trailing blanks)."""
    body = json.dumps({"email": email, "password": STRONG_PASSWORD}).encode()
    return body + b" " * (size - len(body))


def user_count(client: TestClient) -> int:
    with client.app.state.container.engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT count(*) FROM users")).scalar_one())


def assert_too_large(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in body["detail"]
    assert response.headers["connection"] == "close"  # the rest is not read
    return body


# -- the size limit -----------------------------------------------------------------


def test_a_body_one_byte_over_the_limit_is_refused_and_creates_nothing(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cors_origins=[APP])
    email = unique_email("too-big")
    users = user_count(client)

    response = client.post(
        "/auth/signup",
        content=signup_body(email, LIMIT + 1),
        headers={**JSON, "Origin": APP, "X-Request-ID": "size-check-1"},
    )

    assert_too_large(response)
    assert response.headers["X-Request-ID"] == "size-check-1"
    assert response.headers["access-control-allow-origin"] == APP  # the page can read it
    assert user_count(client) == users
    # The same signup within the limit works: it was refused for its size only.
    fits = client.post("/auth/signup", content=signup_body(email, LIMIT), headers=JSON)
    assert fits.status_code == 201, fits.text
    assert user_count(client) == users + 1


@pytest.mark.parametrize(
    "path", ["/auth/refresh", "/auth/login", "/auth/token", "/auth/me", "/health", "/nowhere"]
)
def test_every_path_refuses_a_large_body(client: TestClient, path: str) -> None:
    """Before routing, authentication or the rate limit: a large body costs nothing."""
    response = client.post(path, content=b"{" + b" " * (2 * LIMIT) + b"}", headers=JSON)
    assert_too_large(response)


def test_a_chunked_body_that_grows_past_the_limit_is_refused(client: TestClient) -> None:
    email = unique_email("chunked")
    users = user_count(client)
    body = signup_body(email, LIMIT + 1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = client.post("/auth/signup", content=chunks(), headers=JSON)

    assert "content-length" not in response.request.headers
    assert_too_large(response)
    assert user_count(client) == users


def test_a_chunked_body_within_the_limit_is_read_as_usual(client: TestClient) -> None:
    body = signup_body(unique_email("chunked-ok"), LIMIT)

    response = client.post("/auth/signup", content=iter([body[:100], body[100:]]), headers=JSON)

    assert response.status_code == 201, response.text


def test_the_413_is_counted_in_the_metrics(client: TestClient) -> None:
    scraper = TestClient(client.app, client=("127.0.0.1", 50000))
    series = re.compile(r'authapi_http_requests_total\{[^}]*status="413"[^}]*\} (\S+)')

    def seen() -> float:
        return sum(float(value) for value in series.findall(scraper.get("/metrics").text))

    before = seen()
    assert_too_large(client.post("/auth/refresh", content=b" " * (LIMIT + 1), headers=JSON))
    assert seen() == before + 1


async def _inner_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("the app must not be called for a body above the limit")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    """The middleware alone: it stops reading at the chunk that passes the limit,
    never calls the app, and answers 413 with `Connection: close`."""
    from authapi.body_limit import BodyLimitMiddleware  # here: the module is new

    pulled: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}  # endless

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/auth/refresh", "headers": []}
    run_coroutine(BodyLimitMiddleware(_inner_app, max_bytes=10_000)(scope, receive, send))

    assert len(pulled) == 11  # 11,000 bytes: the first chunk past 10,000
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"


@pytest.mark.slow
def test_a_real_server_answers_before_the_body_is_sent(tmp_path: Path) -> None:
    """uvicorn, over a socket: a declared 10 MB body waiting on `Expect: 100-continue`
    is refused without being asked for; a chunked one as soon as it passes the limit,
    and the connection is closed instead of read to the end."""
    with authapi_server(tmp_path) as base:
        address = urlsplit(base)
        host, port = address.hostname or "127.0.0.1", address.port or 80

        with socket.create_connection((host, port), timeout=10) as declared:
            declared.sendall(
                b"POST /auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
            )
            answer = read_all(declared)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"100 Continue" not in answer
        assert b'"payload_too_large"' in answer

        with socket.create_connection((host, port), timeout=10) as chunked:
            chunked.sendall(
                b"POST /auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            sent = 0
            chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"
            while sent < 10_000_000 and not select.select([chunked], [], [], 0.01)[0]:
                try:
                    chunked.sendall(chunk)
                except OSError:  # closed while we were still sending: fine
                    break
                sent += 4096
            answer = read_all(chunked)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert sent < 1_000_000, f"the answer came only after {sent} bytes"


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (it must close it)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not part:
            return data
        data += part


# -- validation errors ----------------------------------------------------------------


def unknown_keys(count: int) -> bytes:
    """A JSON object of `count` unknown keys, compact (as an attacker would pack it)."""
    body = json.dumps({f"k{n}": 0 for n in range(count)}, separators=(",", ":")).encode()
    assert len(body) < LIMIT
    return body


@pytest.mark.parametrize("keys", [25, 700, 6000])
def test_unknown_keys_get_the_first_20_errors_and_the_count(client: TestClient, keys: int) -> None:
    """25 keys are validated where FastAPI validates, 700 and 6,000 (near the limit)
    in a worker thread: the same answer either way."""
    response = client.post("/auth/refresh", content=unknown_keys(keys), headers=JSON)

    problem = assert_problem(response, 422, "validation_error")
    assert problem["error_count"] == keys
    assert [error["field"] for error in problem["errors"]] == [f"k{n}" for n in range(20)]
    assert {error["code"] for error in problem["errors"]} == {"extra_forbidden"}
    assert f"{keys} errors; the first 20 are listed" in problem["detail"]


def test_a_short_list_of_errors_is_complete_and_counted(client: TestClient) -> None:
    response = client.post("/auth/signup", json={"email": "not-an-address", "password": 7})

    problem = assert_problem(response, 422, "validation_error")
    assert problem["error_count"] == len(problem["errors"]) == 2
    assert "listed" not in problem["detail"]


def test_a_large_valid_body_is_still_accepted(roomy_client: TestClient) -> None:
    """Validated twice (off the loop, then by FastAPI); answered once."""
    email = unique_email("large-valid")
    body = {"email": email, "password": STRONG_PASSWORD, **{f"x{n}": n for n in range(5000)}}

    created = roomy_client.post("/auth/signup", json=body)  # signup ignores unknown keys

    assert created.status_code == 201, created.text
    assert created.json()["user"]["email"] == email


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/auth/me"), ("POST", "/auth/email/change"), ("POST", "/auth/mfa/totp/setup")],
)
def test_a_large_body_to_a_protected_endpoint_gets_401_first(
    client: TestClient, method: str, path: str
) -> None:
    """A stranger's large body is not even validated: the token is checked first
    (on the per-IP limited email change too)."""
    headers = {**JSON, "Authorization": "Bearer nonsense"}

    response = client.request(method, path, content=unknown_keys(5000), headers=headers)

    assert_problem(response, 401, "token_invalid")


# -- per-IP limits on every public POST ----------------------------------------------


def test_refresh_has_its_own_per_ip_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_refresh="3/minute")
    answers = [
        client.post("/auth/refresh", json={"refresh_token": "U" * 43}),
        client.post("/auth/refresh", json={"unknown": 1}),  # 422s count too
        client.post("/auth/refresh", content=b"{oops", headers=JSON),
        client.post("/auth/refresh", json={"refresh_token": "U" * 43}),
    ]

    assert [answer.status_code for answer in answers] == [401, 422, 422, 429]
    limited = assert_problem(answers[-1], 429, "rate_limited")
    assert limited["detail"]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"].startswith('"refresh";q=3;w=60')
    # Its own count: login from the same client is untouched, and another client refreshes.
    login = client.post("/auth/login", json={"email": unique_email(), "password": "Wrong-pass-1"})
    assert login.status_code == 401, login.text
    elsewhere = TestClient(client.app, client=("203.0.113.9", 40000))
    assert elsewhere.post("/auth/refresh", json={"refresh_token": "U" * 43}).status_code == 401


def test_the_default_refresh_limit_is_sixty_a_minute(client: TestClient) -> None:
    statuses = [
        client.post("/auth/refresh", json={"refresh_token": "U" * 43}).status_code
        for _ in range(61)
    ]

    assert statuses == [401] * 60 + [429]


def test_every_post_without_a_bearer_token_is_limited_per_ip(
    make_client: Callable[..., TestClient],
) -> None:
    """Each POST that anyone may call, found in the OpenAPI document (no security
    requirement), answers 429 from one client once its limit is spent."""
    client = make_client(
        rate_limit_auth="2/minute",
        rate_limit_refresh="2/minute",
        rate_limit_oauth="2/minute",
        rate_limit_passkey="2/minute",
    )
    openapi = client.get("/openapi.json").json()
    public = [
        path
        for path, operations in openapi["paths"].items()
        if "post" in operations and not operations["post"].get("security")
    ]
    assert {"/auth/signup", "/auth/login", "/auth/token", "/auth/refresh"} <= set(public)
    assert "/auth/mfa/verify" in public
    assert "/auth/password/forgot" in public

    unlimited = []
    for number, path in enumerate(public):
        # A client of its own per path: login and token share one count.
        caller = TestClient(client.app, client=(f"198.51.100.{number + 1}", 40000))
        statuses = [caller.post(path, json={}).status_code for _ in range(3)]
        if statuses[-1] != 429:
            unlimited.append((path, statuses))

    assert unlimited == [], f"no per-IP limit on {unlimited}"
