"""Every answer of a rate-limited endpoint tells the client where it stands: the
IETF httpapi draft's RateLimit-Policy and RateLimit, and X-RateLimit-Limit,
-Remaining and -Reset (seconds from now), on successes and on every error alike."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from support import STRONG_PASSWORD, signup, unique_email

LIMIT = 5
POLICY = re.compile(r'"(?P<name>[A-Za-z0-9_.-]+)";q=(?P<q>\d+);w=(?P<w>\d+)')
STATE = re.compile(r'"(?P<name>[A-Za-z0-9_.-]+)";r=(?P<r>\d+);t=(?P<t>\d+)')


def limit_state(response: httpx.Response) -> tuple[str, int, int]:
    """(policy name, remaining, seconds to reset), checked for consistency."""
    headers = response.headers
    policy = POLICY.fullmatch(headers["RateLimit-Policy"])
    state = STATE.fullmatch(headers["RateLimit"])
    assert policy is not None, headers["RateLimit-Policy"]
    assert state is not None, headers["RateLimit"]
    assert policy["name"] == state["name"]
    assert int(policy["q"]) == LIMIT == int(headers["X-RateLimit-Limit"])
    assert int(policy["w"]) == 60
    remaining, reset = int(state["r"]), int(state["t"])
    assert remaining == int(headers["X-RateLimit-Remaining"])
    assert reset == int(headers["X-RateLimit-Reset"])
    assert 0 <= reset <= 60, "seconds from now, not a Unix time"
    return policy["name"], remaining, reset


def test_login_answers_of_every_kind_carry_the_headers(client: TestClient) -> None:
    """200, 401, 422 and the 429 that ends the window, counting down in one policy."""
    email = signup(client)["user"]["email"]
    answers = [
        client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}),
        client.post("/auth/login", json={"email": email, "password": "Wrong-pass-1"}),
        client.post("/auth/login", json={"email": email}),  # 422
        client.post("/auth/token", data={"username": email, "password": "Wrong-pass-1"}),
        client.post("/auth/login", content=b"{oops", headers={"Content-Type": "application/json"}),
        client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}),
    ]

    assert [a.status_code for a in answers] == [200, 401, 422, 401, 422, 429]
    states = [limit_state(answer) for answer in answers]
    assert {name for name, _, _ in states} == {"login"}
    assert [remaining for _, remaining, _ in states] == [4, 3, 2, 1, 0, 0]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert "Retry-After" not in answers[0].headers  # only the 429 says "wait"


def test_signup_success_and_conflict_carry_their_own_policy(client: TestClient) -> None:
    email = unique_email()
    created = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    taken = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})

    assert (created.status_code, taken.status_code) == (201, 409)
    assert limit_state(created)[:2] == ("signup", 4)
    assert limit_state(taken)[:2] == ("signup", 3)


def test_too_many_attempts_carries_the_headers(make_client: Callable[..., TestClient]) -> None:
    client = make_client(login_failure_limit=2)
    email = signup(client)["user"]["email"]
    for _ in range(2):
        client.post("/auth/login", json={"email": email, "password": "Wrong-pass-1"})

    throttled = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_attempts"
    assert limit_state(throttled)[:2] == ("login", 2)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/auth/password/forgot", {"email": "someone@example.com"}, 202),
        ("/auth/password/forgot", {"email": "not an email"}, 422),
        ("/auth/password/reset", {"token": "x" * 43, "new_password": STRONG_PASSWORD}, 400),
        ("/auth/email/verify", {"token": "x" * 43}, 400),
    ],
)
def test_link_endpoints_carry_the_headers(
    client: TestClient, path: str, body: dict[str, str], status: int
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert limit_state(response)[1] == LIMIT - 1


def test_cors_exposes_the_headers(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=["http://app.example"])
    response = client.post(
        "/auth/login",
        json={"email": unique_email(), "password": "Wrong-pass-1"},
        headers={"Origin": "http://app.example"},
    )
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {
        "ratelimit",
        "ratelimit-policy",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
    } <= exposed
