"""POST /auth/login and POST /auth/token: credentials in, token out; one answer for
every kind of bad credentials."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_helpers import (
    assert_no_secret,
    assert_problem,
    assert_user,
    login,
    parse_utc,
    token_claims,
)
from support import STRONG_PASSWORD, bearer, signup, unique_email


def assert_bearer_challenge_without_token_error(challenge: str | None) -> None:
    """A 401 to a request that sent no token: `WWW-Authenticate: Bearer`, no token error."""
    assert challenge is not None, "401 responses carry WWW-Authenticate"
    assert challenge.startswith("Bearer")
    assert "invalid_token" not in challenge


# -- login ---------------------------------------------------------------------------


def test_login_returns_user_and_token(client: TestClient) -> None:
    created = signup(client, name="Grace")
    email = created["user"]["email"]

    response = login(client, email)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "user",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    assert body["refresh_token"] != created["refresh_token"]
    assert 30 * 24 * 3600 - 5 <= body["refresh_expires_in"] <= 30 * 24 * 3600
    assert_user(body["user"], email)
    assert body["user"]["id"] == created["user"]["id"]
    assert body["user"]["name"] == "Grace"
    assert body["access_token"] != created["access_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert_no_secret(response, STRONG_PASSWORD)


def test_login_token_works_on_me(client: TestClient) -> None:
    email = signup(client)["user"]["email"]
    token = login(client, email).json()["access_token"]

    me = client.get("/auth/me", headers=bearer(token))

    assert me.status_code == 200, me.text
    assert me.json()["email"] == email


def test_login_accepts_email_in_any_case_with_spaces(client: TestClient) -> None:
    email = signup(client)["user"]["email"]

    response = login(client, f"  {email.upper()} ")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email


def test_login_updates_last_login_at(client: TestClient) -> None:
    created = signup(client)["user"]

    first = login(client, created["email"]).json()["user"]
    time.sleep(0.01)
    second = login(client, created["email"]).json()["user"]

    first_at = parse_utc(first["last_login_at"])
    second_at = parse_utc(second["last_login_at"])
    assert first_at >= parse_utc(created["created_at"])
    assert second_at > first_at
    me = client.get(
        "/auth/me", headers=bearer(login(client, created["email"]).json()["access_token"])
    )
    assert parse_utc(me.json()["last_login_at"]) > second_at


def test_unknown_email_and_wrong_password_get_identical_401(client: TestClient) -> None:
    """Nothing in the answer tells an attacker whether the account exists."""
    email = signup(client)["user"]["email"]

    wrong_password = login(client, email, "Wrong7Password!")
    unknown_email = login(client, unique_email("nobody"), "Wrong7Password!")

    first = assert_problem(wrong_password, 401, "invalid_credentials")
    second = assert_problem(unknown_email, 401, "invalid_credentials")
    first.pop("request_id")
    second.pop("request_id")
    assert first == second
    assert wrong_password.headers.get("WWW-Authenticate") == unknown_email.headers.get(
        "WWW-Authenticate"
    )
    assert_no_secret(wrong_password, "Wrong7Password!")


def test_login_failure_carries_www_authenticate(client: TestClient) -> None:
    email = signup(client)["user"]["email"]

    response = login(client, email, "Wrong7Password!")

    assert_problem(response, 401, "invalid_credentials")
    assert_bearer_challenge_without_token_error(response.headers.get("WWW-Authenticate"))


def test_failed_login_does_not_update_last_login_at(client: TestClient) -> None:
    created = signup(client)
    assert_problem(
        login(client, created["user"]["email"], "Wrong7Password!"), 401, "invalid_credentials"
    )

    me = client.get("/auth/me", headers=bearer(created["access_token"]))

    assert me.json()["last_login_at"] == created["user"]["last_login_at"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        pytest.param({}, {"email", "password"}, id="empty"),
        pytest.param({"email": "a@example.com"}, {"password"}, id="no-password"),
        pytest.param({"password": STRONG_PASSWORD}, {"email"}, id="no-email"),
        pytest.param({"email": "a@example.com", "password": ""}, {"password"}, id="empty-password"),
    ],
)
def test_login_with_missing_fields_is_422(
    client: TestClient, payload: dict[str, str], fields: set[str]
) -> None:
    response = client.post("/auth/login", json=payload)

    body = assert_problem(response, 422, "validation_error")
    assert {error["field"] for error in body["errors"]} == fields


def test_login_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/auth/login", content=b"email=a@example.com", headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 422, "validation_error")


def test_repeated_failures_lock_the_account_with_429(
    make_client: Callable[..., TestClient],
) -> None:
    """Per-account throttle: after the failure limit, even the right password waits."""
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    email = signup(client)["user"]["email"]
    for _ in range(3):
        assert_problem(login(client, email, "Wrong7Password!"), 401, "invalid_credentials")

    response = login(client, email)

    assert_problem(response, 429, "too_many_attempts")
    assert int(response.headers["Retry-After"]) > 0
    assert "access_token" not in response.text
    bystander = signup(client)["user"]["email"]
    assert login(client, bystander).status_code == 200, "only that account is throttled"


def test_unknown_email_is_throttled_like_a_real_one(make_client: Callable[..., TestClient]) -> None:
    """The throttle applies whether or not the account exists, so it reveals nothing."""
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    email = unique_email("ghost")
    for _ in range(3):
        assert_problem(login(client, email, "Wrong7Password!"), 401, "invalid_credentials")

    response = login(client, email, "Wrong7Password!")

    assert_problem(response, 429, "too_many_attempts")
    assert int(response.headers["Retry-After"]) > 0


# -- token (OAuth2 password form) ----------------------------------------------------


def test_token_form_returns_bearer_token(client: TestClient) -> None:
    created = signup(client)
    email = created["user"]["email"]

    response = client.post("/auth/token", data={"username": email, "password": STRONG_PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    assert 30 * 24 * 3600 - 5 <= body["refresh_expires_in"] <= 30 * 24 * 3600
    assert token_claims(body["access_token"])["sub"] == created["user"]["id"]
    assert response.headers["Cache-Control"] == "no-store"
    assert_no_secret(response, STRONG_PASSWORD)


def test_token_from_form_works_on_me(client: TestClient) -> None:
    email = signup(client)["user"]["email"]
    token = client.post(
        "/auth/token", data={"username": email.upper(), "password": STRONG_PASSWORD}
    ).json()["access_token"]

    me = client.get("/auth/me", headers=bearer(token))

    assert me.status_code == 200, me.text
    assert me.json()["email"] == email


def test_token_with_wrong_password_is_401(client: TestClient) -> None:
    email = signup(client)["user"]["email"]

    response = client.post("/auth/token", data={"username": email, "password": "Wrong7Password!"})

    assert_problem(response, 401, "invalid_credentials")
    assert_bearer_challenge_without_token_error(response.headers.get("WWW-Authenticate"))
    assert_no_secret(response, "Wrong7Password!")


def test_token_with_unknown_or_malformed_username_is_401(client: TestClient) -> None:
    """The username field is whatever was typed; a non-email is just bad credentials."""
    for username in (unique_email("nobody"), "not an email"):
        response = client.post(
            "/auth/token", data={"username": username, "password": STRONG_PASSWORD}
        )
        assert_problem(response, 401, "invalid_credentials")


def test_token_without_form_fields_is_422(client: TestClient) -> None:
    response = client.post("/auth/token", data={"username": "a@example.com"})

    body = assert_problem(response, 422, "validation_error")
    assert "password" in {error["field"] for error in body["errors"]}


# What a password at login may hold: any text, since it is only hashed and compared
# (bcrypt_sha256, so neither NUL nor bcrypt's 72-byte limit matters); a wrong one is
# the one 401, never a 422 that would tell a guesser something, and never a 500.
ODD_PASSWORDS = [
    pytest.param('"nul\\u0000byte"', id="nul"),
    pytest.param('"\\u0007\\u001b\\u007f\\u0085"', id="controls"),
    pytest.param('"' + "\U0001f511" * 1024 + '"', id="4-kb-of-4-byte-characters"),
]


def _login_json(client: TestClient, email: str, password_json: str) -> httpx.Response:
    body = f'{{"email": "{email}", "password": {password_json}}}'
    return client.post(
        "/auth/login", content=body.encode(), headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("password_json", ODD_PASSWORDS)
def test_any_wrong_password_text_is_the_one_401(client: TestClient, password_json: str) -> None:
    email = signup(client)["user"]["email"]

    assert_problem(_login_json(client, email, password_json), 401, "invalid_credentials")


def test_a_lone_surrogate_is_no_text_and_so_a_422(client: TestClient) -> None:
    """JSON can spell half a UTF-16 pair (`\\ud800`); no keyboard types it, and no
    stored password holds it (signup refuses it too)."""
    email = signup(client)["user"]["email"]

    response = _login_json(client, email, '"lone\\ud800surrogate"')

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["password"]


@pytest.mark.parametrize("password", [b"nul%00byte", b"not-utf-8%FF%FE", b"%ED%A0%80"])
def test_any_wrong_password_bytes_at_the_token_endpoint_is_the_one_401(
    client: TestClient, password: bytes
) -> None:
    """A form's bytes that are not UTF-8 are read as U+FFFD: a password that simply
    does not match."""
    email = signup(client)["user"]["email"].replace("@", "%40").encode()

    response = client.post(
        "/auth/token",
        content=b"username=" + email + b"&password=" + password,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    body = assert_problem(response, 401, "invalid_credentials")
    assert body["error"] == "invalid_grant"
