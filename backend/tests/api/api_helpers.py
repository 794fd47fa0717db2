"""Assertions and small request helpers shared by the API tests.

Import as `from api.api_helpers import ...` (this folder is the `api` package).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx
from fastapi.testclient import TestClient
from jose import jwt

from support import STRONG_PASSWORD, bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}
USER_KEYS = {
    "id",
    "email",
    "name",
    "created_at",
    "last_login_at",
    "email_verified_at",
    "mfa_enabled",
    "has_password",
    "passkeys",
    "role",
}
# What the middleware accepts as an incoming request id; generated ids must match it too.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The socket peer Starlette's TestClient reports; the app has no trusted proxies.
TEST_CLIENT_IP = "testclient"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and stable code; returns it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    request_id = response.headers.get("X-Request-ID")
    assert request_id, "every response carries X-Request-ID"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["title"] == HTTPStatus(status).phrase
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == request_id
    assert "Traceback" not in response.text
    return body


def parse_utc(value: str) -> datetime:
    """An ISO 8601 time that carries a UTC offset (the contract's time format)."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value!r} is not UTC with an offset"
    return parsed


def assert_user(user: dict[str, Any], email: str) -> None:
    """The public user object: exactly the documented keys, never a hash or a flag."""
    # /auth/me adds the admin behind an impersonated session (null otherwise).
    assert set(user) in (USER_KEYS, USER_KEYS | {"impersonated_by"}), user
    assert user.get("impersonated_by") is None
    assert user["role"] in ("user", "admin")
    assert user["email"] == email
    assert user["id"]
    assert isinstance(user["mfa_enabled"], bool)
    parse_utc(user["created_at"])
    if user["last_login_at"] is not None:
        parse_utc(user["last_login_at"])


def assert_no_secret(response: httpx.Response, *secrets: str) -> None:
    """None of the given secrets, nor anything that looks like a password hash, leaks."""
    for secret in secrets:
        assert secret not in response.text
    assert "$2b$" not in response.text
    assert "bcrypt" not in response.text.lower()
    assert "password_hash" not in response.text


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a token as the client can read them (no signature check)."""
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


def login(
    client: TestClient, email: str, password: str = STRONG_PASSWORD, **kwargs: Any
) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password}, **kwargs)


def login_token(client: TestClient, email: str, password: str = STRONG_PASSWORD) -> str:
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def auth_events(client: TestClient, user_id: str, token: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/{user_id}/auth-events", headers=bearer(token), params=params)
