"""Refresh tokens over HTTP: issued with every login, rotated at every refresh
(RFC 9700 4.14.2), replays inside REFRESH_REUSE_INTERVAL_SECONDS get the same
successor, later replays end the session; the session's hard end; the OAuth2 refresh
grant at /auth/token; bad input; and the cookie mode with its Origin check and CORS."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from api.api_helpers import assert_problem, auth_events, login, token_claims
from authapi.models import AuthEvent, AuthEventType, AuthSession, Link, RefreshToken, User
from authapi.repositories import users
from authapi.security import hash_token, new_link_token
from support import STRONG_PASSWORD, bearer, signup, unique_email

NEW_PASSWORD = "Other9Battery!"
SESSION_TTL = 30 * 24 * 3600  # SESSION_TTL_SECONDS' default
ACCESS_TTL = 24 * 3600
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}
ORIGIN = "http://app.example"
COOKIE = "authapi_refresh"


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with room for many calls (the per-IP limit is not under test here)."""
    return make_client(rate_limit_auth="1000/minute")


# -- helpers -------------------------------------------------------------------------


def refresh(client: TestClient, token: str, **kwargs: Any) -> httpx.Response:
    return client.post("/auth/refresh", json={"refresh_token": token}, **kwargs)


def refresh_ok(client: TestClient, token: str) -> dict[str, Any]:
    response = refresh(client, token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def token_grant(client: TestClient, token: str) -> httpx.Response:
    return client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": token})


def me(client: TestClient, access_token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(access_token))


def session_id(tokens: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(token_claims(tokens["access_token"])["sid"])


def refresh_rows(client: TestClient, sid: uuid.UUID) -> list[RefreshToken]:
    with Session(client.app.state.container.engine) as session:
        return list(session.exec(select(RefreshToken).where(RefreshToken.session_id == sid)).all())


def events(client: TestClient, user_id: str, event_type: AuthEventType) -> list[AuthEvent]:
    with Session(client.app.state.container.engine) as session:
        return list(
            session.exec(
                select(AuthEvent).where(
                    AuthEvent.user_id == uuid.UUID(user_id),
                    AuthEvent.event_type == event_type.value,
                )
            ).all()
        )


def set_session_end(client: TestClient, sid: uuid.UUID, ends: datetime) -> None:
    with Session(client.app.state.container.engine) as session:
        row = session.get(AuthSession, sid)
        assert row is not None
        row.expires_at = ends
        session.add(row)
        session.commit()


def assert_dead(client: TestClient, tokens: dict[str, Any]) -> None:
    """Neither the access token nor the refresh token of this pair works any more."""
    assert_problem(me(client, tokens["access_token"]), 401, "token_revoked")
    assert_problem(refresh(client, tokens["refresh_token"]), 401, "token_revoked")


def assert_alive(client: TestClient, tokens: dict[str, Any]) -> dict[str, Any]:
    """The access token works and the refresh token refreshes; returns the new pair."""
    assert me(client, tokens["access_token"]).status_code == 200
    return refresh_ok(client, tokens["refresh_token"])


def assert_token_pair(body: dict[str, Any]) -> None:
    assert body["token_type"] == "bearer"
    assert isinstance(body["refresh_token"], str)
    # 256 random bits, URL-safe base64 without padding: 43 characters.
    assert len(body["refresh_token"]) >= 43
    assert body["refresh_token"].replace("-", "").replace("_", "").isalnum()
    assert body["refresh_token"] != body["access_token"]


# -- issued with every login ---------------------------------------------------------


def test_signup_login_and_token_return_a_refresh_token(api: TestClient) -> None:
    created = signup(api)
    email = created["user"]["email"]
    logged_in = login(api, email).json()
    form = api.post("/auth/token", data={"username": email, "password": STRONG_PASSWORD})
    assert form.status_code == 200, form.text
    from_form = form.json()

    for body in (created, logged_in, from_form):
        assert_token_pair(body)
        assert SESSION_TTL - 5 <= body["refresh_expires_in"] <= SESSION_TTL
    assert set(from_form) == TOKEN_KEYS
    assert set(created) == set(logged_in) == TOKEN_KEYS | {"user"}
    # Every login is a session of its own with a refresh token of its own.
    assert len({b["refresh_token"] for b in (created, logged_in, from_form)}) == 3
    assert len({session_id(b) for b in (created, logged_in, from_form)}) == 3


def test_refresh_expires_in_follows_session_ttl(make_client: Callable[..., TestClient]) -> None:
    client = make_client(session_ttl_seconds=7200, access_token_ttl_seconds=3600)

    body = signup(client)

    assert body["expires_in"] == 3600
    assert 7200 - 5 <= body["refresh_expires_in"] <= 7200


def test_refresh_token_is_stored_only_as_its_hash(api: TestClient) -> None:
    body = signup(api)

    rows = refresh_rows(api, session_id(body))

    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    assert rows[0].used_at is None


# -- rotation ------------------------------------------------------------------------


def test_each_refresh_returns_a_new_pair_and_the_new_access_token_works(
    api: TestClient,
) -> None:
    created = signup(api)
    sid = session_id(created)
    seen_refresh = {created["refresh_token"]}
    seen_access = {created["access_token"]}
    current = created

    for _ in range(3):
        response = refresh(api, current["refresh_token"])
        assert response.status_code == 200, response.text
        assert set(response.json()) == TOKEN_KEYS
        assert response.headers["Cache-Control"] == "no-store"
        current = response.json()
        assert_token_pair(current)
        assert current["refresh_token"] not in seen_refresh
        assert current["access_token"] not in seen_access
        seen_refresh.add(current["refresh_token"])
        seen_access.add(current["access_token"])
        assert current["expires_in"] == ACCESS_TTL
        assert SESSION_TTL - 10 <= current["refresh_expires_in"] <= SESSION_TTL
        # The same session, and a token that works.
        claims = token_claims(current["access_token"])
        assert uuid.UUID(claims["sid"]) == sid
        assert claims["sub"] == created["user"]["id"]
        assert claims["exp"] - claims["iat"] == ACCESS_TTL
        assert me(api, current["access_token"]).json()["id"] == created["user"]["id"]

    # One row per token ever issued; only the newest is unused.
    rows = refresh_rows(api, sid)
    assert len(rows) == 4
    assert sum(row.used_at is None for row in rows) == 1
    # Access tokens issued before a refresh keep working until they expire.
    assert me(api, created["access_token"]).status_code == 200


def test_refresh_is_audited(api: TestClient) -> None:
    created = signup(api)
    user_id = created["user"]["id"]

    new = refresh_ok(api, created["refresh_token"])

    rows = events(api, user_id, AuthEventType.TOKEN_REFRESHED)
    assert len(rows) == 1
    assert rows[0].ip_address == "testclient"
    # The owner sees it in their audit trail too.
    page = auth_events(api, user_id, new["access_token"]).json()
    assert page["items"][0]["event_type"] == "token_refreshed"


def test_retired_token_within_the_interval_gets_the_same_successor(api: TestClient) -> None:
    """Two tabs refreshing with one token at once both stay logged in."""
    created = signup(api)
    sid = session_id(created)

    first = refresh_ok(api, created["refresh_token"])
    second = refresh_ok(api, created["refresh_token"])

    assert second["refresh_token"] == first["refresh_token"]
    assert me(api, second["access_token"]).status_code == 200
    assert session_id(second) == sid
    # No second successor was stored.
    assert len(refresh_rows(api, sid)) == 2
    assert not events(api, created["user"]["id"], AuthEventType.REFRESH_TOKEN_REUSED)
    # The successor goes on working.
    third = refresh_ok(api, first["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], created["refresh_token"])


def test_replay_after_the_interval_ends_the_whole_session(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_auth="1000/minute", refresh_reuse_interval_seconds=1)
    created = signup(client)
    user_id = created["user"]["id"]
    other_session = login(client, created["user"]["email"]).json()
    rotated = refresh_ok(client, created["refresh_token"])

    time.sleep(1.5)
    replay = refresh(client, created["refresh_token"])

    body = assert_problem(replay, 401, "token_revoked")
    assert replay.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert created["refresh_token"] not in replay.text
    assert rotated["refresh_token"] not in replay.text
    assert "error" not in body  # OAuth2's member belongs to /auth/token only
    reused = events(client, user_id, AuthEventType.REFRESH_TOKEN_REUSED)
    assert len(reused) == 1
    assert reused[0].ip_address == "testclient"
    # Every token of that session is dead: both access tokens and the successor.
    assert_problem(me(client, created["access_token"]), 401, "token_revoked")
    assert_problem(me(client, rotated["access_token"]), 401, "token_revoked")
    assert_problem(refresh(client, rotated["refresh_token"]), 401, "token_revoked")
    # ... and so is the replayed one, again.
    assert_problem(refresh(client, created["refresh_token"]), 401, "token_revoked")
    # The user's other session is untouched.
    assert_alive(client, other_session)
    listed = client.get("/auth/sessions", headers=bearer(other_session["access_token"])).json()
    assert [row["id"] for row in listed] == [str(session_id(other_session))]


def test_replay_of_an_older_retired_token_ends_the_session_too(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_auth="1000/minute", refresh_reuse_interval_seconds=1)
    created = signup(client)
    first = refresh_ok(client, created["refresh_token"])
    time.sleep(1.5)
    second = refresh_ok(client, first["refresh_token"])  # the owner goes on as usual

    assert_problem(refresh(client, created["refresh_token"]), 401, "token_revoked")

    assert_dead(client, second)


def test_concurrent_refreshes_of_one_token_share_one_successor(api: TestClient) -> None:
    threads = 20
    created = signup(api)
    sid = session_id(created)
    barrier = threading.Barrier(threads, timeout=30)

    def attempt(_: int) -> httpx.Response:
        client = TestClient(api.app, raise_server_exceptions=False)
        try:
            barrier.wait()
            return refresh(client, created["refresh_token"])
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        responses = list(pool.map(attempt, range(threads)))

    outcome = Counter(
        (r.status_code, r.json().get("code", "") if r.status_code >= 400 else "") for r in responses
    )
    assert outcome == Counter({(200, ""): threads}), outcome
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1
    # Exactly one new row: the presented token, retired, and its one successor.
    rows = refresh_rows(api, sid)
    assert len(rows) == 2, rows
    assert {row.token_hash for row in rows if row.used_at is None} == {hash_token(successors.pop())}
    assert not events(api, created["user"]["id"], AuthEventType.REFRESH_TOKEN_REUSED)
    for response in responses[:3]:
        assert me(api, response.json()["access_token"]).status_code == 200


# -- what ends a session ends its refresh tokens -----------------------------------


def test_logout_kills_the_refresh_token(api: TestClient) -> None:
    created = signup(api)
    other = login(api, created["user"]["email"]).json()

    assert api.post("/auth/logout", headers=bearer(created["access_token"])).status_code == 204

    assert_dead(api, created)
    assert_alive(api, other)


def test_logout_all_kills_every_refresh_token(api: TestClient) -> None:
    created = signup(api)
    other = login(api, created["user"]["email"]).json()
    rotated = refresh_ok(api, other["refresh_token"])

    response = api.post("/auth/logout-all", headers=bearer(created["access_token"]))

    assert response.status_code == 204
    assert_dead(api, created)
    assert_dead(api, rotated)


def test_password_change_kills_the_other_sessions_refresh_tokens(api: TestClient) -> None:
    created = signup(api)
    other = login(api, created["user"]["email"]).json()

    response = api.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(created["access_token"]),
    )

    assert response.status_code == 204, response.text
    assert_dead(api, other)
    # The session that changed the password stays, refresh token included.
    assert_alive(api, created)


def test_password_reset_kills_every_refresh_token(api: TestClient) -> None:
    created = signup(api)
    other = login(api, created["user"]["email"]).json()
    link_token, link_hash = new_link_token()
    with Session(api.app.state.container.engine) as session:
        session.add(
            Link(
                user_id=uuid.UUID(created["user"]["id"]),
                purpose="password_reset",
                token_hash=link_hash,
                email=created["user"]["email"],
                expires_at=datetime.now(UTC) + timedelta(minutes=30),
            )
        )
        session.commit()

    response = api.post(
        "/auth/password/reset", json={"token": link_token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204, response.text
    assert_dead(api, created)
    assert_dead(api, other)


def test_deleting_the_account_kills_its_refresh_tokens(api: TestClient) -> None:
    created = signup(api)
    other = login(api, created["user"]["email"]).json()

    response = api.post(
        "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=bearer(other["access_token"])
    )

    assert response.status_code == 204, response.text
    for tokens in (created, other):
        # The session rows went with the user: the tokens are unknown now.
        assert_problem(refresh(api, tokens["refresh_token"]), 401, "token_invalid")
        assert_problem(me(api, tokens["access_token"]), 401, "token_invalid")


def test_disabling_the_user_kills_every_refresh_token(api: TestClient) -> None:
    created = signup(api)
    rotated = refresh_ok(api, created["refresh_token"])
    container = api.app.state.container  # type: ignore[attr-defined]
    with container.unit_of_work() as uow:
        user = users.get_by_email(uow.session, created["user"]["email"])
        assert user is not None
        container.sessions.disable_user(uow, user)

    assert_dead(api, rotated)
    # The refresh grant says the same.
    grant = token_grant(api, rotated["refresh_token"])
    assert assert_problem(grant, 401, "token_revoked")["error"] == "invalid_grant"


def test_a_disabled_user_cannot_refresh_even_with_a_live_session_row(api: TestClient) -> None:
    """Refresh checks the user too, not only the session row (a flag flipped by hand)."""
    created = signup(api)
    with Session(api.app.state.container.engine) as session:
        user = session.get(User, uuid.UUID(created["user"]["id"]))
        assert user is not None
        user.is_active = False
        session.add(user)
        session.commit()

    assert_problem(refresh(api, created["refresh_token"]), 401, "token_revoked")


# -- the session's hard end ----------------------------------------------------------


def test_a_session_lives_at_most_session_ttl(api: TestClient) -> None:
    created = signup(api)
    rotated = refresh_ok(api, created["refresh_token"])
    set_session_end(api, session_id(created), datetime.now(UTC) - timedelta(seconds=1))

    response = refresh(api, rotated["refresh_token"])

    assert_problem(response, 401, "token_expired")
    assert_problem(me(api, rotated["access_token"]), 401, "token_expired")
    assert_problem(token_grant(api, rotated["refresh_token"]), 401, "token_expired")


def test_access_token_never_outlives_its_session(api: TestClient) -> None:
    created = signup(api)
    sid = session_id(created)
    ends = datetime.now(UTC) + timedelta(seconds=30)
    set_session_end(api, sid, ends)

    rotated = refresh_ok(api, created["refresh_token"])

    claims = token_claims(rotated["access_token"])
    assert claims["exp"] <= int(ends.timestamp())
    assert 0 < rotated["expires_in"] <= 30
    assert 0 <= rotated["refresh_expires_in"] <= 30
    assert rotated["expires_in"] == claims["exp"] - claims["iat"]
    assert me(api, rotated["access_token"]).status_code == 200


def test_first_access_token_ends_with_a_session_as_short_as_the_token(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(session_ttl_seconds=60, access_token_ttl_seconds=60)

    body = signup(client)

    claims = token_claims(body["access_token"])
    with Session(client.app.state.container.engine) as session:
        row = session.get(AuthSession, session_id(body))
        assert row is not None
        ends = row.expires_at
    assert claims["exp"] <= int(ends.timestamp())
    assert body["expires_in"] <= 60
    assert body["refresh_expires_in"] <= 60


# -- the OAuth2 refresh grant at /auth/token -----------------------------------------


def test_token_endpoint_refresh_grant(api: TestClient) -> None:
    created = signup(api)

    response = token_grant(api, created["refresh_token"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == TOKEN_KEYS
    assert_token_pair(body)
    assert response.headers["Cache-Control"] == "no-store"
    assert body["refresh_token"] != created["refresh_token"]
    assert session_id(body) == session_id(created)
    assert me(api, body["access_token"]).status_code == 200
    # Both endpoints rotate the same chain: the retired token gets the same successor.
    assert refresh_ok(api, created["refresh_token"])["refresh_token"] == body["refresh_token"]
    assert token_grant(api, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("grant_type", [None, "password"])
def test_token_endpoint_password_grant(api: TestClient, grant_type: str | None) -> None:
    email = signup(api)["user"]["email"]
    form = {"username": email, "password": STRONG_PASSWORD}
    if grant_type is not None:
        form["grant_type"] = grant_type

    response = api.post("/auth/token", data=form)

    assert response.status_code == 200, response.text
    assert set(response.json()) == TOKEN_KEYS
    assert me(api, response.json()["access_token"]).status_code == 200


def test_token_endpoint_bad_refresh_token_is_invalid_grant(api: TestClient) -> None:
    unknown = "A" * 43

    response = token_grant(api, unknown)

    body = assert_problem(response, 401, "token_invalid")
    assert body["error"] == "invalid_grant"
    assert unknown not in response.text


def test_token_endpoint_revoked_refresh_token_is_invalid_grant(api: TestClient) -> None:
    created = signup(api)
    api.post("/auth/logout", headers=bearer(created["access_token"]))

    body = assert_problem(token_grant(api, created["refresh_token"]), 401, "token_revoked")

    assert body["error"] == "invalid_grant"


def test_token_endpoint_wrong_password_is_invalid_grant(api: TestClient) -> None:
    email = signup(api)["user"]["email"]

    response = api.post("/auth/token", data={"username": email, "password": "Wrong1Password"})

    assert assert_problem(response, 401, "invalid_credentials")["error"] == "invalid_grant"


def test_token_endpoint_unknown_grant_type(api: TestClient) -> None:
    response = api.post(
        "/auth/token", data={"grant_type": "client_credentials", "refresh_token": "A" * 43}
    )

    assert assert_problem(response, 400, "unsupported_grant_type")["error"] == (
        "unsupported_grant_type"
    )


@pytest.mark.parametrize(
    ("form", "missing"),
    [
        ({"grant_type": "refresh_token"}, {"refresh_token"}),
        ({"grant_type": "refresh_token", "refresh_token": ""}, {"refresh_token"}),
        ({"grant_type": "password", "username": "a@example.com"}, {"password"}),
        ({}, {"username", "password"}),
    ],
)
def test_token_endpoint_missing_field_is_invalid_request(
    api: TestClient, form: dict[str, str], missing: set[str]
) -> None:
    response = api.post("/auth/token", data=form)

    body = assert_problem(response, 422, "validation_error")
    assert body["error"] == "invalid_request"
    assert {error["field"] for error in body["errors"]} == missing


# -- bad input -----------------------------------------------------------------------

MALFORMED = {
    "too_short": "Sh0rtT0ken",
    "oversized": "Q" * 10_000,
    "nul": "NulBearingToken\x00" + "B" * 30,
    "standard_base64": "p+7o/9bq" * 6,
    "padded": "Pad" + "C" * 40 + "=",
    "dot": "Dotted" + "D" * 30 + ".x",
    "space": "Spaced Token " + "E" * 30,
    "trailing_newline": "Newline" + "F" * 36 + "\n",
    "leading_space": " Lead" + "G" * 38,
    "unicode": "Ünïcode" + "H" * 36,
    "too_long": "L" * 129,
}


def _not_echoed(response: httpx.Response, value: str) -> None:
    assert value.strip("\x00\n ") not in response.text
    assert value[:12] not in response.text


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_refresh_token_in_json_is_422(api: TestClient, value: str) -> None:
    response = refresh(api, value)

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["refresh_token"]
    _not_echoed(response, value)


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_refresh_token_in_form_is_422(api: TestClient, value: str) -> None:
    response = token_grant(api, value)

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["refresh_token"]
    _not_echoed(response, value)


def test_every_422_at_the_token_endpoint_carries_oauth2_error(api: TestClient) -> None:
    """Every refusal at the token endpoint names OAuth2's `error` (RFC 6749 5.2), the
    form's own validation errors included: OAuth2 client libraries (authlib) take a
    JSON object without `error` for a token."""
    forms = [
        {"grant_type": "refresh_token", "refresh_token": MALFORMED["standard_base64"]},
        {"grant_type": "refresh_token", "refresh_token": MALFORMED["oversized"]},
        {"grant_type": "password", "username": "a@example.com", "password": "P" * 2000},
        {"grant_type": "x" * 65},
    ]
    for form in forms:
        response = api.post("/auth/token", data=form)
        body = assert_problem(response, 422, "validation_error")
        assert body.get("error") == "invalid_request", (form, body)


def test_rate_limited_at_the_token_endpoint_carries_oauth2_error(
    make_client: Callable[..., TestClient],
) -> None:
    """A 429 is a refusal too: without `error`, authlib stores the problem document
    as its token. (The refresh grant here counts against the per-IP auth limit,
    which /auth/refresh does not.)"""
    client = make_client(rate_limit_auth="2/minute")
    for _ in range(2):
        token_grant(client, "A" * 43)

    limited = token_grant(client, "A" * 43)

    body = assert_problem(limited, 429, "rate_limited")
    assert body.get("error"), body


def test_too_many_attempts_at_the_token_endpoint_carries_oauth2_error(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=1)
    form = {"username": unique_email(), "password": "Wrong1Password"}
    client.post("/auth/token", data=form)

    throttled = client.post("/auth/token", data=form)

    body = assert_problem(throttled, 429, "too_many_attempts")
    assert body.get("error"), body


def test_well_shaped_unknown_tokens_are_401_token_invalid(api: TestClient) -> None:
    created = signup(api)
    real = created["refresh_token"]
    for unknown in (real[:30], real[:-1], real[::-1], "Z" * 16, "Y" * 128, real + "x"):
        if unknown == real:
            continue
        for response in (refresh(api, unknown), token_grant(api, unknown)):
            assert_problem(response, 401, "token_invalid")
            assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            assert unknown not in response.text
    # The real token, after all that, is still good.
    refresh_ok(api, real)


def test_an_access_token_is_not_a_refresh_token(api: TestClient) -> None:
    created = signup(api)

    response = refresh(api, created["access_token"])

    assert_problem(response, 422, "validation_error")  # dots: not the shape of one
    assert created["access_token"] not in response.text


@pytest.mark.parametrize(
    "payload", [123, ["A" * 43], {"t": "A" * 43}, True], ids=["int", "list", "object", "bool"]
)
def test_non_string_refresh_token_is_422(api: TestClient, payload: Any) -> None:
    response = api.post("/auth/refresh", json={"refresh_token": payload})

    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "content",
    [b"{", b"not json", b'"A"', b"[]", b"\xff\xfe", b'{"refresh_token": "' + b"A" * 43 + b'"'],
    ids=["open_brace", "text", "string", "array", "not_utf8", "unterminated"],
)
def test_broken_body_is_422(api: TestClient, content: bytes) -> None:
    response = api.post(
        "/auth/refresh", content=content, headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 422, "validation_error")


def test_unknown_fields_in_the_refresh_body_are_422(api: TestClient) -> None:
    created = signup(api)

    response = api.post(
        "/auth/refresh",
        json={"refresh_token": created["refresh_token"], "grant_type": "refresh_token"},
    )

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["grant_type"]
    assert created["refresh_token"] not in response.text
    # Refused before it was used: the token still refreshes.
    refresh_ok(api, created["refresh_token"])


@pytest.mark.parametrize(
    "send",
    [
        {},
        {"json": {}},
        {"json": {"refresh_token": None}},
        {"content": b"", "headers": {"Content-Type": "application/json"}},
    ],
    ids=["no_body", "empty_object", "null", "empty_body"],
)
def test_no_refresh_token_is_401_token_missing(api: TestClient, send: dict[str, Any]) -> None:
    response = api.post("/auth/refresh", **send)

    assert_problem(response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_refresh_never_answers_500(api: TestClient) -> None:
    """A crowd of odd inputs, JSON and form: 4xx each, never a 5xx."""
    created = signup(api)
    values: list[Any] = [*MALFORMED.values(), created["refresh_token"][:20], "", "\x00" * 43]
    for value in values:
        for response in (
            refresh(api, value),
            token_grant(api, value),
            api.post("/auth/refresh", data={"refresh_token": value}),
        ):
            assert 400 <= response.status_code < 500, response.text


def test_refresh_tokens_never_reach_the_log(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(rate_limit_auth="1000/minute", refresh_reuse_interval_seconds=1)
    caplog.set_level(logging.DEBUG)  # every library's records, SQLAlchemy's included
    created = signup(client)
    rotated = refresh_ok(client, created["refresh_token"])
    via_form = token_grant(client, rotated["refresh_token"]).json()
    unknown = "U" * 43
    malformed = "M+" * 30
    refresh(client, unknown)
    refresh(client, malformed)
    token_grant(client, malformed)
    time.sleep(1.1)
    refresh(client, created["refresh_token"])  # a replay: the session ends

    records = list(caplog.records)
    assert any("/auth/refresh" in record.getMessage() for record in records), "vacuous"
    texts = [caplog.text] + [repr(vars(record)) for record in records]
    issued = [created["refresh_token"], rotated["refresh_token"], via_form["refresh_token"]]
    for token in [*issued, unknown, malformed]:
        for text in texts:
            assert token not in text
            assert hash_token(token) not in text


# -- cookie mode ---------------------------------------------------------------------


@pytest.fixture
def cookie_api(make_client: Callable[..., TestClient]) -> TestClient:
    """Cookie mode, called as the page of ORIGIN would: its browser sends Origin with
    every call (every endpoint that sets the cookie refuses a call without one)."""
    client = make_client(
        rate_limit_auth="1000/minute", refresh_token_cookie=True, cors_origins=[ORIGIN]
    )
    client.headers["Origin"] = ORIGIN
    return client


def refresh_cookie(response: httpx.Response) -> tuple[str, dict[str, str], str]:
    """The refresh cookie's value, its attributes (lower-cased names), and the raw header."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    parsed = SimpleCookie()
    parsed.load(headers[0])
    morsel = parsed[COOKIE]
    attributes = {key: str(value) for key, value in morsel.items() if value}
    return morsel.value, attributes, headers[0]


def cookie_refresh(
    client: TestClient, token: str | None, origin: str | None = ORIGIN, **kwargs: Any
) -> httpx.Response:
    headers: dict[str, str] = {}
    if token is not None:
        headers["Cookie"] = f"{COOKIE}={token}"
    if origin is not None:
        headers["Origin"] = origin
    client.cookies.clear()  # only what this call means to send
    request = client.build_request("POST", "/auth/refresh", headers=headers, **kwargs)
    if origin is None:
        request.headers.pop("Origin", None)  # not even the client's own default
    return client.send(request)


def assert_refresh_cookie(response: httpx.Response) -> str:
    value, attributes, raw = refresh_cookie(response)
    assert len(value) >= 43
    assert attributes.get("httponly") is not None, raw
    assert attributes.get("secure") is not None, raw
    assert attributes.get("path") == "/auth", raw
    assert attributes.get("samesite", "").lower() == "strict", raw
    assert 0 < int(attributes["max-age"]) <= SESSION_TTL
    # Never in the JSON.
    assert response.json().get("refresh_token") is None
    assert value not in response.text
    return value


def test_cookie_mode_login_sets_the_cookie_and_keeps_it_out_of_json(
    cookie_api: TestClient,
) -> None:
    created = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    assert created.status_code == 201
    assert_refresh_cookie(created)
    email = created.json()["user"]["email"]

    response = login(cookie_api, email)

    assert response.status_code == 200
    value = assert_refresh_cookie(response)
    assert response.json()["refresh_expires_in"] > 0
    form = cookie_api.post("/auth/token", data={"username": email, "password": STRONG_PASSWORD})
    assert assert_refresh_cookie(form) != value


def test_cookie_mode_refresh_rotates_the_cookie(cookie_api: TestClient) -> None:
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    first = assert_refresh_cookie(logged_in)

    response = cookie_refresh(cookie_api, first)

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    second = assert_refresh_cookie(response)
    assert second != first
    assert me(cookie_api, response.json()["access_token"]).status_code == 200
    third = assert_refresh_cookie(cookie_refresh(cookie_api, second))
    assert third not in (first, second)


@pytest.mark.parametrize(
    "origin",
    [None, "http://evil.example", "http://app.example.evil.example", "null", "https://app.example"],
    ids=["missing", "other", "suffix", "null", "other_scheme"],
)
def test_cookie_mode_refuses_other_origins(cookie_api: TestClient, origin: str | None) -> None:
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    value = assert_refresh_cookie(logged_in)

    response = cookie_refresh(cookie_api, value, origin=origin)

    assert_problem(response, 403, "origin_not_allowed")
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE)]
    # No CORS grant for another origin. (Starlette adds Allow-Credentials to every
    # simple response; without Allow-Origin the browser still hides the answer.)
    assert "access-control-allow-origin" not in response.headers
    # Refused before use: the cookie still works from the app's own origin.
    assert cookie_refresh(cookie_api, value).status_code == 200


def test_cookie_mode_refuses_a_token_in_the_body(cookie_api: TestClient) -> None:
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    value = assert_refresh_cookie(logged_in)

    response = cookie_refresh(cookie_api, value, json={"refresh_token": value})

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["refresh_token"]
    assert value not in response.text
    without_cookie = cookie_refresh(cookie_api, None, json={"refresh_token": value})
    assert_problem(without_cookie, 422, "validation_error")


def test_cookie_mode_without_or_with_a_bad_cookie(cookie_api: TestClient) -> None:
    assert_problem(cookie_refresh(cookie_api, None), 401, "token_missing")
    assert_problem(cookie_refresh(cookie_api, None, json={}), 401, "token_missing")
    for bad in ("A" * 43, "short", "a+b/c=" * 8, "Q" * 4000):
        response = cookie_refresh(cookie_api, bad)
        assert_problem(response, 401, "token_invalid")
        assert bad not in response.text
        # A dead cookie is cleared, or the browser would send it on every load.
        assert_cleared(response)


def assert_cleared(response: httpx.Response) -> None:
    cleared, attributes, raw = refresh_cookie(response)
    assert cleared == "", raw
    assert attributes.get("max-age") == "0", raw
    assert attributes.get("path") == "/auth", raw  # the cookie it replaces
    assert attributes.get("httponly") is not None, raw
    assert attributes.get("secure") is not None, raw


def test_cookie_mode_clears_a_revoked_or_expired_cookie(cookie_api: TestClient) -> None:
    first = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    value = assert_refresh_cookie(first)
    cookie_api.post("/auth/logout", headers=bearer(first.json()["access_token"]))
    revoked = cookie_refresh(cookie_api, value)
    assert_problem(revoked, 401, "token_revoked")
    assert_cleared(revoked)

    second = login(cookie_api, first.json()["user"]["email"])
    value = assert_refresh_cookie(second)
    sid = uuid.UUID(token_claims(second.json()["access_token"])["sid"])
    set_session_end(cookie_api, sid, datetime.now(UTC) - timedelta(seconds=1))
    expired = cookie_refresh(cookie_api, value)
    assert_problem(expired, 401, "token_expired")
    assert_cleared(expired)


def test_cookie_mode_logout_clears_the_cookie(cookie_api: TestClient) -> None:
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    value = assert_refresh_cookie(logged_in)
    access = logged_in.json()["access_token"]

    response = cookie_api.post("/auth/logout", headers=bearer(access))

    assert response.status_code == 204
    assert_cleared(response)
    assert_problem(cookie_refresh(cookie_api, value), 401, "token_revoked")


def test_ending_an_impersonation_keeps_the_admins_cookie(cookie_api: TestClient) -> None:
    """An impersonation has no refresh token of its own: logging it out (Stop
    impersonating) must not clear the admin's refresh cookie in the same browser."""
    admin_email = unique_email("admin")
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": admin_email, "password": STRONG_PASSWORD}
    )
    admin_cookie = assert_refresh_cookie(logged_in)
    container = cookie_api.app.state.container  # type: ignore[attr-defined]
    with container.unit_of_work() as uow:
        found = users.get_by_email(uow.session, admin_email)
        assert found is not None
        found.role = "admin"
    admin_token = cookie_refresh(cookie_api, admin_cookie).json()["access_token"]
    admin_cookie = refresh_cookie(cookie_refresh(cookie_api, admin_cookie))[0]
    user = signup(cookie_api)["user"]
    started = cookie_api.post(f"/admin/users/{user['id']}/impersonate", headers=bearer(admin_token))
    assert started.status_code == 200, started.text

    ended = cookie_api.post("/auth/logout", headers=bearer(started.json()["access_token"]))

    assert ended.status_code == 204
    assert ended.headers.get_list("set-cookie") == []
    assert_problem(
        cookie_api.get("/auth/me", headers=bearer(started.json()["access_token"])),
        401,
        "token_revoked",
    )
    assert cookie_refresh(cookie_api, admin_cookie).status_code == 200


def test_cookie_mode_logout_all_clears_the_cookie(cookie_api: TestClient) -> None:
    logged_in = cookie_api.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    value = assert_refresh_cookie(logged_in)

    response = cookie_api.post("/auth/logout-all", headers=bearer(logged_in.json()["access_token"]))

    assert response.status_code == 204
    assert refresh_cookie(response)[1].get("max-age") == "0"
    assert_problem(cookie_refresh(cookie_api, value), 401, "token_revoked")


def preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        "/auth/refresh",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_cookie_mode_cors_allows_credentials_for_listed_origins_only(
    cookie_api: TestClient,
) -> None:
    allowed = preflight(cookie_api, ORIGIN)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"

    refused = preflight(cookie_api, "http://evil.example")
    assert refused.status_code != 200
    assert "access-control-allow-origin" not in refused.headers

    simple = cookie_api.get("/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    listed = cookie_api.get("/health", headers={"Origin": ORIGIN})
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert listed.headers["access-control-allow-credentials"] == "true"


def test_without_cookie_mode_cors_allows_no_credentials(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cors_origins=[ORIGIN])

    allowed = preflight(client, ORIGIN)
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    simple = client.get("/health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in simple.headers
    # And no cookie is ever set: the refresh token is in the JSON.
    created = client.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )
    assert created.headers.get_list("set-cookie") == []
    assert len(created.json()["refresh_token"]) >= 43
    # A cookie sent anyway is ignored: the body is what counts.
    response = client.post("/auth/refresh", headers={"Cookie": f"{COOKIE}={'A' * 43}"})
    assert_problem(response, 401, "token_missing")


def test_count_of_sessions_is_unchanged_by_refresh(api: TestClient) -> None:
    """Refreshing rotates tokens inside the session; it never makes a session."""
    created = signup(api)
    current = created
    for _ in range(3):
        current = refresh_ok(api, current["refresh_token"])
    with Session(api.app.state.container.engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(AuthSession)
            .where(col(AuthSession.user_id) == uuid.UUID(created["user"]["id"]))
        ).one()
    assert count == 1
