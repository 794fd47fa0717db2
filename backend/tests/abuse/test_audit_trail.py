"""The `auth_events` audit trail: one row per auth outcome, with who (user id, email),
from where (socket peer IP, truncated User-Agent) and which request (X-Request-ID).
Rows for failures are written even though the failing request rolls back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from authapi.models import AuthEvent, AuthEventType, AuthSession, User
from authapi.models.auth_event import USER_AGENT_MAX_LENGTH
from authapi.repositories import users
from support import STRONG_PASSWORD, bearer, unique_email

PEER_IP = "198.51.100.23"
PEER = (PEER_IP, 4000)
# 2000 characters, distinct along its length so a wrong cut is visible.
LONG_USER_AGENT = "audit-agent/1.0 " + "".join(f"{i:04d}" for i in range(500))[: 2000 - 16]


@pytest.fixture
def roomy_app_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(rate_limit_auth="1000/minute")


@contextmanager
def seen_from_peer(base: TestClient) -> Iterator[TestClient]:
    """The same app, seen from PEER_IP, sending a 2000-character User-Agent.

    Not entered as a context manager: the app's lifespan belongs to `base`.
    """
    assert len(LONG_USER_AGENT) == 2000
    peer = TestClient(
        base.app,
        client=PEER,
        raise_server_exceptions=False,
        headers={"User-Agent": LONG_USER_AGENT},
    )
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
def peer(roomy_app_client: TestClient) -> Iterator[TestClient]:
    with seen_from_peer(roomy_app_client) as peer:
        yield peer


def rows_for(client: TestClient, response: httpx.Response) -> list[AuthEvent]:
    request_id = response.headers["X-Request-ID"]
    with Session(client.app.state.container.engine) as session:
        return list(session.exec(select(AuthEvent).where(AuthEvent.request_id == request_id)).all())


def assert_event(
    client: TestClient,
    response: httpx.Response,
    event_type: AuthEventType,
    *,
    user_id: str | None,
    email: str | None,
    reason: str | None = None,
) -> AuthEvent:
    """Exactly one row for this request, and every column says what happened."""
    rows = rows_for(client, response)
    assert len(rows) == 1, [(row.event_type, row.reason) for row in rows]
    row = rows[0]
    assert row.event_type == event_type.value
    assert (str(row.user_id) if row.user_id else None) == user_id
    assert row.email == email
    if reason is not None:
        assert row.reason == reason
    assert row.ip_address == PEER_IP
    assert row.user_agent == LONG_USER_AGENT[:USER_AGENT_MAX_LENGTH]
    assert row.request_id == response.headers["X-Request-ID"]
    now = datetime.now(UTC)
    assert now - timedelta(minutes=1) <= row.created_at <= now + timedelta(seconds=5)
    return row


def login(client: TestClient, email: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def signed_up(client: TestClient, email: str) -> tuple[httpx.Response, dict[str, Any]]:
    response = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return response, body


def count(client: TestClient, table: type[AuthSession] | type[AuthEvent], user_id: str) -> int:
    with Session(client.app.state.container.engine) as session:
        return session.exec(
            select(func.count()).select_from(table).where(table.user_id == uuid.UUID(user_id))
        ).one()


def user_row(client: TestClient, email: str) -> User:
    with Session(client.app.state.container.engine) as session:
        user = users.get_by_email(session, email)
        assert user is not None
        return user


def disable(client: TestClient, email: str) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.unit_of_work() as uow:
        user = users.get_by_email(uow.session, email)
        assert user is not None
        container.sessions.disable_user(uow, user)


def problem_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    code: str = response.json()["code"]
    return code


# --- successes ----------------------------------------------------------------------


def test_signup_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-signup")
    response, body = signed_up(peer, email)
    assert_event(peer, response, AuthEventType.SIGNUP, user_id=body["user"]["id"], email=email)


def test_request_id_sent_by_the_client_is_the_one_recorded(peer: TestClient) -> None:
    email = unique_email("audit-rid")
    response = peer.post(
        "/auth/signup",
        json={"email": email, "password": STRONG_PASSWORD},
        headers={"X-Request-ID": "client-chosen-id-42"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "client-chosen-id-42"
    assert_event(
        peer, response, AuthEventType.SIGNUP, user_id=response.json()["user"]["id"], email=email
    )


def test_login_success_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-login")
    _, body = signed_up(peer, email)
    response = login(peer, email)
    assert response.status_code == 200, response.text
    assert_event(
        peer, response, AuthEventType.LOGIN_SUCCESS, user_id=body["user"]["id"], email=email
    )


def test_logout_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-logout")
    _, body = signed_up(peer, email)
    response = peer.post("/auth/logout", headers=bearer(body["access_token"]))
    assert response.status_code == 204, response.text
    assert_event(peer, response, AuthEventType.LOGOUT, user_id=body["user"]["id"], email=email)


def test_logout_all_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-logout-all")
    _, body = signed_up(peer, email)
    response = peer.post("/auth/logout-all", headers=bearer(body["access_token"]))
    assert response.status_code == 204, response.text
    assert_event(peer, response, AuthEventType.LOGOUT_ALL, user_id=body["user"]["id"], email=email)


# --- login failures: one answer for the client, the reason in the audit -----------------


def test_login_failure_unknown_email_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-nobody")
    response = login(peer, email)
    assert problem_code(response, 401) == "invalid_credentials"
    assert_event(
        peer,
        response,
        AuthEventType.LOGIN_FAILURE,
        user_id=None,
        email=email,
        reason="unknown_email",
    )


def test_login_failure_bad_password_persists_while_the_request_rolls_back(
    peer: TestClient,
) -> None:
    email = unique_email("audit-badpw")
    _, body = signed_up(peer, email)
    user_id = body["user"]["id"]
    sessions_before = count(peer, AuthSession, user_id)
    last_login_before = user_row(peer, email).last_login_at

    response = login(peer, email, "Wrong7Password!")

    assert problem_code(response, 401) == "invalid_credentials"
    assert_event(
        peer,
        response,
        AuthEventType.LOGIN_FAILURE,
        user_id=user_id,
        email=email,
        reason="bad_password",
    )
    # The row is there although the request failed: nothing else of it was kept.
    assert count(peer, AuthSession, user_id) == sessions_before
    assert user_row(peer, email).last_login_at == last_login_before


def test_login_failure_disabled_account_is_audited(peer: TestClient) -> None:
    email = unique_email("audit-disabled")
    _, body = signed_up(peer, email)
    user_id = body["user"]["id"]
    disable(peer, email)
    sessions_before = count(peer, AuthSession, user_id)

    response = login(peer, email)  # the right password

    assert problem_code(response, 401) == "invalid_credentials"
    assert_event(
        peer,
        response,
        AuthEventType.LOGIN_FAILURE,
        user_id=user_id,
        email=email,
        reason="disabled",
    )
    assert count(peer, AuthSession, user_id) == sessions_before
    assert user_row(peer, email).last_login_at is None


def test_email_is_recorded_in_its_stored_form(peer: TestClient) -> None:
    email = unique_email("audit-case")
    _, body = signed_up(peer, email)
    response = login(peer, "  " + email.upper() + " ", "Wrong7Password!")
    assert problem_code(response, 401) == "invalid_credentials"
    assert_event(
        peer,
        response,
        AuthEventType.LOGIN_FAILURE,
        user_id=body["user"]["id"],
        email=email,
        reason="bad_password",
    )


# --- throttles ------------------------------------------------------------------------


def test_rate_limited_request_is_audited(client: TestClient) -> None:
    """The deployed per-IP limit (5/minute): the sixth login from one IP is refused."""
    with seen_from_peer(client) as peer:
        email = unique_email("audit-ratelimit")
        for _ in range(5):
            assert login(peer, email).status_code == 401
        response = login(peer, email)

        assert problem_code(response, 429) == "rate_limited"
        assert int(response.headers["Retry-After"]) > 0
        rows = rows_for(peer, response)
        assert [row.event_type for row in rows] == [AuthEventType.RATE_LIMITED.value]
        row = rows[0]
        assert row.email in (None, email)  # the limit is checked before the body is read
        assert row.user_id is None
        assert row.ip_address == PEER_IP
        assert row.user_agent == LONG_USER_AGENT[:USER_AGENT_MAX_LENGTH]
        assert row.request_id == response.headers["X-Request-ID"]


def test_too_many_attempts_is_audited(make_client: Callable[..., TestClient]) -> None:
    base = make_client(login_failure_limit=3, rate_limit_auth="1000/minute")
    with seen_from_peer(base) as peer:
        email = unique_email("audit-throttle")
        _, body = signed_up(peer, email)
        for _ in range(3):
            assert problem_code(login(peer, email, "Wrong7Password!"), 401) == (
                "invalid_credentials"
            )

        response = login(peer, email)  # even the right password is refused now

        assert problem_code(response, 429) == "too_many_attempts"
        assert int(response.headers["Retry-After"]) > 0
        rows = rows_for(peer, response)
        assert [row.event_type for row in rows] == [AuthEventType.TOO_MANY_ATTEMPTS.value]
        row = rows[0]
        assert row.email == email
        assert row.user_id in (None, uuid.UUID(body["user"]["id"]))
        assert row.ip_address == PEER_IP
        assert row.user_agent == LONG_USER_AGENT[:USER_AGENT_MAX_LENGTH]
        assert row.request_id == response.headers["X-Request-ID"]


def test_too_many_attempts_for_an_unknown_email_is_audited(
    make_client: Callable[..., TestClient],
) -> None:
    base = make_client(login_failure_limit=3, rate_limit_auth="1000/minute")
    with seen_from_peer(base) as peer:
        email = unique_email("audit-throttle-nobody")
        for _ in range(3):
            assert problem_code(login(peer, email), 401) == "invalid_credentials"

        response = login(peer, email)

        assert problem_code(response, 429) == "too_many_attempts"
        assert int(response.headers["Retry-After"]) > 0
        assert_event(peer, response, AuthEventType.TOO_MANY_ATTEMPTS, user_id=None, email=email)


# --- tokens ---------------------------------------------------------------------------


def test_token_rejected_is_audited(peer: TestClient) -> None:
    response = peer.get("/auth/me", headers=bearer("not.a.token"))
    assert problem_code(response, 401) == "token_invalid"
    assert_event(peer, response, AuthEventType.TOKEN_REJECTED, user_id=None, email=None)


def test_revoked_token_rejection_names_the_user(peer: TestClient) -> None:
    email = unique_email("audit-revoked")
    _, body = signed_up(peer, email)
    token = body["access_token"]
    assert peer.post("/auth/logout", headers=bearer(token)).status_code == 204

    response = peer.get("/auth/me", headers=bearer(token))

    assert problem_code(response, 401) == "token_revoked"
    rows = rows_for(peer, response)
    assert [row.event_type for row in rows] == [AuthEventType.TOKEN_REJECTED.value]
    assert str(rows[0].user_id) == body["user"]["id"]
    assert rows[0].ip_address == PEER_IP
    assert rows[0].request_id == response.headers["X-Request-ID"]


def test_audit_rows_are_readable_by_their_owner(peer: TestClient) -> None:
    """The trail is the user's own: the API lists the rows just written, newest first."""
    email = unique_email("audit-api")
    _, body = signed_up(peer, email)
    assert login(peer, email, "Wrong7Password!").status_code == 401
    ok = login(peer, email)
    assert ok.status_code == 200
    response = peer.get(
        f"/api/{body['user']['id']}/auth-events", headers=bearer(ok.json()["access_token"])
    )
    assert response.status_code == 200, response.text
    types = [item["event_type"] for item in response.json()["items"]]
    assert types[:3] == ["login_success", "login_failure", "signup"], types
    assert count(peer, AuthEvent, body["user"]["id"]) == 3
