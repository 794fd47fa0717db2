"""Concurrent signups: the unique index decides a race for one email (one 201, the
rest 409, never a 5xx), and unrelated signups do not get in each other's way."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from authapi.models import AuthEvent, AuthEventType, AuthSession, User
from support import STRONG_PASSWORD, unique_email

THREADS = 50
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


@pytest.fixture
def app_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(rate_limit_auth="1000/minute")


def signup_all_at_once(app_client: TestClient, emails: list[str]) -> list[httpx.Response]:
    """One thread per email, each with its own client, released together by a barrier."""
    barrier = threading.Barrier(len(emails), timeout=30)

    def attempt(email: str) -> httpx.Response:
        client = TestClient(app_client.app, raise_server_exceptions=False)
        try:
            barrier.wait()
            return client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(attempt, emails))


def count_users(app_client: TestClient, emails: list[str]) -> int:
    with Session(app_client.app.state.container.engine) as session:
        return session.exec(
            select(func.count()).select_from(User).where(col(User.email).in_(set(emails)))
        ).one()


def describe(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, r.json().get("code", "") if r.status_code >= 400 else "") for r in responses
    )


def test_fifty_signups_for_one_email_make_one_account(app_client: TestClient) -> None:
    email = unique_email("race")

    responses = signup_all_at_once(app_client, [email] * THREADS)

    outcome = describe(responses)
    assert all(r.status_code < 500 for r in responses), outcome
    assert outcome == Counter({(201, ""): 1, (409, "email_taken"): THREADS - 1}), outcome
    for response in responses:
        if response.status_code == 409:
            assert response.headers["content-type"].split(";")[0] == "application/problem+json"
            body: dict[str, Any] = response.json()
            assert body.keys() >= PROBLEM_KEYS
            assert body["status"] == 409
            assert body["request_id"] == response.headers["X-Request-ID"]

    assert count_users(app_client, [email]) == 1
    winner = next(r for r in responses if r.status_code == 201).json()
    with Session(app_client.app.state.container.engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        assert str(user.id) == winner["user"]["id"]
        # The losers left nothing behind: one session, one signup event.
        sessions = session.exec(select(AuthSession).where(AuthSession.user_id == user.id)).all()
        assert len(sessions) == 1
        signups = session.exec(
            select(AuthEvent).where(
                AuthEvent.email == email, AuthEvent.event_type == AuthEventType.SIGNUP.value
            )
        ).all()
        assert len(signups) == 1
    # The winner's token works.
    me = app_client.get("/auth/me", headers={"Authorization": f"Bearer {winner['access_token']}"})
    assert me.status_code == 200, me.text


def test_fifty_signups_for_distinct_emails_all_succeed(app_client: TestClient) -> None:
    emails = [unique_email(f"crowd{i}") for i in range(THREADS)]

    responses = signup_all_at_once(app_client, emails)

    outcome = describe(responses)
    assert outcome == Counter({(201, ""): THREADS}), outcome
    assert sorted(r.json()["user"]["email"] for r in responses) == sorted(emails)
    assert count_users(app_client, emails) == THREADS
