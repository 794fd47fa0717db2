"""Per-IP rate limits on the credential endpoints, as deployed (5/minute).

signup has its own count; login and token share one, so an attacker cannot double
their guesses by alternating endpoints. Requests refused with 422 count too.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_problem, login
from support import STRONG_PASSWORD, signup, unique_email

LIMIT = 5


def assert_rate_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60, "a per-minute limit frees up within a minute"
    assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
    assert "access_token" not in response.text


def post_token(client: TestClient, email: str) -> httpx.Response:
    return client.post("/auth/token", data={"username": email, "password": STRONG_PASSWORD})


def test_sixth_signup_in_a_minute_is_429(client: TestClient) -> None:
    for _ in range(LIMIT):
        signup(client)

    email = unique_email("sixth")
    response = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})

    assert_rate_limited(response)


def test_rate_limited_signup_creates_no_account(
    client: TestClient, make_client: Callable[..., TestClient]
) -> None:
    for _ in range(LIMIT):
        signup(client)
    email = unique_email("blocked")
    assert_rate_limited(
        client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    )

    # A fresh app on the same database, with its own limiter: the account is absent.
    other = make_client()
    assert_problem(login(other, email), 401, "invalid_credentials")


def test_login_and_token_share_one_count(client: TestClient) -> None:
    email = signup(client)["user"]["email"]  # counts against signup, not login
    for _ in range(3):
        assert login(client, email).status_code == 200
    for _ in range(2):
        assert post_token(client, email).status_code == 200

    assert_rate_limited(login(client, email))
    assert_rate_limited(post_token(client, email))


def test_token_calls_use_up_the_login_allowance(client: TestClient) -> None:
    email = signup(client)["user"]["email"]
    for _ in range(LIMIT):
        assert post_token(client, email).status_code == 200

    assert_rate_limited(login(client, email))


def test_failed_logins_count_toward_the_limit(client: TestClient) -> None:
    email = signup(client)["user"]["email"]
    for _ in range(LIMIT):
        assert_problem(login(client, email, "Wrong7Password!"), 401, "invalid_credentials")

    assert_rate_limited(login(client, email))


def test_signups_rejected_with_422_still_count(client: TestClient) -> None:
    """Otherwise malformed requests would be a free probe, and cost nothing to flood."""
    for _ in range(LIMIT):
        assert_problem(client.post("/auth/signup", json={}), 422, "validation_error")

    response = client.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )

    assert_rate_limited(response)


def test_weak_password_signups_still_count(client: TestClient) -> None:
    for _ in range(LIMIT):
        refused = client.post("/auth/signup", json={"email": unique_email(), "password": "weak"})
        assert_problem(refused, 422, "weak_password")

    response = client.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )

    assert_rate_limited(response)


def test_logins_rejected_with_422_still_count(client: TestClient) -> None:
    email = signup(client)["user"]["email"]
    for _ in range(3):
        assert_problem(client.post("/auth/login", json={}), 422, "validation_error")
    for _ in range(2):
        assert_problem(client.post("/auth/token", data={}), 422, "validation_error")

    assert_rate_limited(login(client, email))


@pytest.mark.parametrize("path", ["/auth/signup", "/auth/login"])
def test_malformed_json_requests_still_count(client: TestClient, path: str) -> None:
    """A body that is not even JSON is a 422 like any other, and must not be free."""
    email = signup(client)["user"]["email"] if path == "/auth/login" else unique_email()
    for _ in range(LIMIT):
        bad = client.post(path, content=b"{oops", headers={"Content-Type": "application/json"})
        assert_problem(bad, 422, "validation_error")

    response = client.post(path, json={"email": email, "password": STRONG_PASSWORD})

    assert_rate_limited(response)


def test_limit_is_per_client_ip(client: TestClient) -> None:
    for _ in range(LIMIT):
        signup(client)
    assert_rate_limited(
        client.post("/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD})
    )

    elsewhere = TestClient(client.app, client=("203.0.113.7", 40000))
    response = elsewhere.post(
        "/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD}
    )

    assert response.status_code == 201, response.text


def test_forwarded_for_from_untrusted_peer_does_not_reset_the_limit(client: TestClient) -> None:
    """With no trusted proxies, a client cannot pick a new IP by sending a header."""
    for _ in range(LIMIT):
        signup(client)

    response = client.post(
        "/auth/signup",
        json={"email": unique_email(), "password": STRONG_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.23"},
    )

    assert_rate_limited(response)


def test_protected_endpoints_are_not_limited_by_the_auth_limit(client: TestClient) -> None:
    token = signup(client)["access_token"]

    statuses = {
        client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(LIMIT + 3)
    }

    assert statuses == {200}
