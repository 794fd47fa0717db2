"""Login CSRF in cookie mode (finding 15 of the outside review), on SQLite and PostgreSQL.

With REFRESH_TOKEN_COOKIE=true the refresh token lives in a cookie. SameSite=Strict
keeps it off requests that other sites start, but their answers could still *set*
it: a form on another site posted to /auth/token would log the visitor's browser in
to the attacker's account, and what the visitor then types lands there. So every
endpoint that sets the cookie (signup, login, token, /auth/mfa/verify; refresh, which
also reads it) accepts only a page of an origin in CORS_ORIGINS, and refuses anything
else before any work: no password checked or hashed, no failure counted, no session,
no cookie. In JSON mode (the default) nothing of this applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.api_helpers import assert_problem
from support import STRONG_PASSWORD, bearer, signup, unique_email

APP = "https://app.example"
COOKIE = "authapi_refresh"
WRONG_PASSWORD = "Wrong7Password!"
FAILURE_LIMIT = 2
# Another site's page, a page whose origin the browser hides, and a client sending none.
STRANGERS = pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", None], ids=["other-site", "null", "no-origin"]
)


@pytest.fixture
def page(make_client: Callable[..., TestClient]) -> TestClient:
    """Cookie mode, called as a page of APP would: its browser sends Origin every time."""
    client = make_client(
        refresh_token_cookie=True,
        cors_origins=[APP],
        rate_limit_auth="1000/minute",
        login_failure_limit=FAILURE_LIMIT,
    )
    client.headers["Origin"] = APP
    return client


@pytest.fixture
def hashing(page: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the password hasher's calls (hash, verify) while the test runs."""
    calls: list[str] = []
    hasher = page.app.state.container.hasher  # type: ignore[attr-defined]
    for name in ("hash", "verify"):
        original = getattr(hasher, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(hasher, name, counted)
    return calls


def from_origin(client: TestClient, origin: str | None, path: str, **kwargs: Any) -> httpx.Response:
    """A POST as a page of `origin` sends it (None: with no Origin header at all)."""
    client.cookies.clear()
    request = client.build_request("POST", path, **kwargs)
    if origin is None:
        request.headers.pop("Origin", None)
    else:
        request.headers["Origin"] = origin
    return client.send(request)


def count(client: TestClient, table: str, where: str = "true") -> int:
    statement = text(f"SELECT count(*) FROM {table} WHERE {where}")  # noqa: S608 (test constants)
    with client.app.state.container.engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(statement).scalar_one())


def assert_refused(response: httpx.Response) -> None:
    """The refresh endpoint's own refusal, and nothing set."""
    assert_problem(response, 403, "origin_not_allowed")
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE)]
    assert "access_token" not in response.text
    assert "mfa_token" not in response.text
    # No CORS grant either: the other site's script could not even read the refusal.
    assert "access-control-allow-origin" not in response.headers


def new_account(page: TestClient) -> str:
    email = unique_email("csrf")
    signup(page, email)
    return email


@STRANGERS
def test_a_foreign_form_post_to_the_token_endpoint_logs_nobody_in(
    page: TestClient, hashing: list[str], origin: str | None
) -> None:
    """The attack itself: the attacker's own account, a form on another site."""
    email = new_account(page)
    sessions = count(page, "sessions")
    hashing.clear()

    for _ in range(FAILURE_LIMIT + 1):
        form = {"username": email, "password": STRONG_PASSWORD}
        assert_refused(from_origin(page, origin, "/auth/token", data=form))
        wrong = {"username": email, "password": WRONG_PASSWORD}
        assert_refused(from_origin(page, origin, "/auth/token", data=wrong))

    assert hashing == [], "refused before the password was checked"
    assert count(page, "sessions") == sessions
    assert count(page, "auth_events", "event_type = 'login_failure'") == 0
    # None of the wrong passwords counted: the account is not locked for its owner.
    allowed = page.post("/auth/token", data={"username": email, "password": STRONG_PASSWORD})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["set-cookie"].startswith(f"{COOKIE}=")


@STRANGERS
def test_a_foreign_login_is_refused_before_the_password_is_checked(
    page: TestClient, hashing: list[str], origin: str | None
) -> None:
    email = new_account(page)
    sessions = count(page, "sessions")
    hashing.clear()

    for password in [STRONG_PASSWORD] + [WRONG_PASSWORD] * (FAILURE_LIMIT + 1):
        body = {"email": email, "password": password}
        assert_refused(from_origin(page, origin, "/auth/login", json=body))

    assert hashing == []
    assert count(page, "sessions") == sessions
    assert count(page, "auth_events", "event_type = 'login_failure'") == 0
    allowed = page.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["set-cookie"].startswith(f"{COOKIE}=")


@STRANGERS
def test_a_foreign_signup_creates_nothing(
    page: TestClient, hashing: list[str], origin: str | None
) -> None:
    email = unique_email("csrf-signup")
    users, sessions = count(page, "users"), count(page, "sessions")

    response = from_origin(
        page, origin, "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
    )

    assert_refused(response)
    assert hashing == [], "refused before the password was hashed"
    assert (count(page, "users"), count(page, "sessions")) == (users, sessions)
    # The address is still free for its owner.
    created = page.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert created.status_code == 201, created.text


def enrolled(page: TestClient) -> tuple[str, str]:
    """An account with the second factor on: its email and TOTP secret."""
    email = unique_email("csrf-mfa")
    token = signup(page, email)["access_token"]
    secret = page.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    ).json()["secret"]
    confirmed = page.post(
        "/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=bearer(token)
    )
    assert confirmed.status_code == 200, confirmed.text
    return email, secret


@STRANGERS
def test_a_foreign_second_step_is_refused_and_spends_nothing(
    page: TestClient, origin: str | None
) -> None:
    email, secret = enrolled(page)
    first = page.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    mfa_token = first.json()["mfa_token"]
    code = pyotp.TOTP(secret).at(time.time(), counter_offset=1)  # the current one is spent
    sessions = count(page, "sessions")

    for value in [code] + ["000000"] * (FAILURE_LIMIT + 1):
        body = {"mfa_token": mfa_token, "code": value}
        assert_refused(from_origin(page, origin, "/auth/mfa/verify", json=body))

    assert count(page, "sessions") == sessions
    assert count(page, "auth_events", "event_type = 'mfa_failed'") == 0
    # Neither the mfa_token nor the code was used up, and no wrong code counted.
    allowed = page.post("/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["set-cookie"].startswith(f"{COOKIE}=")


def test_refresh_gives_the_same_refusal(page: TestClient) -> None:
    created = page.post("/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD})
    cookie = created.headers["set-cookie"].split(";")[0]

    refused = from_origin(page, "https://evil.example", "/auth/refresh", headers={"Cookie": cookie})

    assert_refused(refused)


def test_json_mode_takes_credentials_from_anywhere(make_client: Callable[..., TestClient]) -> None:
    """Without the cookie there is nothing to plant: tokens come back in the JSON only
    to whoever asked, so no Origin is checked (server-side clients send none)."""
    client = make_client(cors_origins=[APP])

    for origin in ("https://evil.example", None):
        email = unique_email("json-mode")
        body = {"email": email, "password": STRONG_PASSWORD}
        form = {"username": email, "password": STRONG_PASSWORD}
        answers = [
            from_origin(client, origin, "/auth/signup", json=body),
            from_origin(client, origin, "/auth/login", json=body),
            from_origin(client, origin, "/auth/token", data=form),
        ]
        assert [answer.status_code for answer in answers] == [201, 200, 200]
        assert all(answer.headers.get_list("set-cookie") == [] for answer in answers)
