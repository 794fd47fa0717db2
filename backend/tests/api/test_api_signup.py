"""POST /auth/signup: the account, the first token, and every way a signup is refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_no_secret, assert_problem, assert_user, login, token_claims
from support import STRONG_PASSWORD, bearer, unique_email


def test_signup_returns_user_and_bearer_token(client: TestClient) -> None:
    email = unique_email("ada")
    response = client.post(
        "/auth/signup", json={"email": email, "password": STRONG_PASSWORD, "name": "Ada"}
    )

    assert response.status_code == 201, response.text
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
    assert body["expires_in"] == 24 * 3600  # the documented default lifetime
    # The session's lifetime (SESSION_TTL_SECONDS, 30 days by default).
    assert 30 * 24 * 3600 - 5 <= body["refresh_expires_in"] <= 30 * 24 * 3600
    assert_user(body["user"], email)
    assert body["user"]["name"] == "Ada"
    uuid.UUID(body["user"]["id"])
    assert token_claims(body["access_token"])["sub"] == body["user"]["id"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]
    assert_no_secret(response, STRONG_PASSWORD)


def test_signup_token_authenticates_as_the_new_user(client: TestClient) -> None:
    email = unique_email()
    body = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD}).json()

    me = client.get("/auth/me", headers=bearer(body["access_token"]))

    assert me.status_code == 200, me.text
    assert me.json() == {**body["user"], "impersonated_by": None}


def test_signup_without_name_gives_null_name(client: TestClient) -> None:
    email = unique_email()
    response = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})

    assert response.status_code == 201, response.text
    assert response.json()["user"]["name"] is None


def test_signup_trims_and_lower_cases_email(client: TestClient) -> None:
    local = f"Mixed.Case-{uuid.uuid4().hex[:8]}"
    response = client.post(
        "/auth/signup",
        json={"email": f"  {local}@Example.COM \t", "password": STRONG_PASSWORD},
    )

    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == f"{local.lower()}@example.com"


def test_signup_with_taken_email_is_409(client: TestClient) -> None:
    email = unique_email()
    first = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert first.status_code == 201, first.text

    response = client.post("/auth/signup", json={"email": email, "password": "Other9Password!"})

    assert_problem(response, 409, "email_taken")
    assert_no_secret(response, "Other9Password!")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda e: e.upper(), id="upper-case"),
        pytest.param(lambda e: f"  {e}  ", id="surrounding-spaces"),
        pytest.param(lambda e: f" {e.capitalize()}\n", id="capitalised-and-newline"),
    ],
)
def test_signup_email_taken_ignores_case_and_whitespace(
    client: TestClient, variant: Callable[[str], str]
) -> None:
    email = unique_email()
    first = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert first.status_code == 201, first.text

    response = client.post(
        "/auth/signup", json={"email": variant(email), "password": STRONG_PASSWORD}
    )

    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize(
    ("password", "expected_codes"),
    [
        pytest.param("zQ7xw", {"too_short"}, id="too-short"),
        pytest.param("qzvkwmtr", {"missing_uppercase", "missing_digit"}, id="lower-only"),
        pytest.param("QZVKWMTR5", {"missing_lowercase"}, id="no-lowercase"),
        pytest.param("qzvkwmtr5", {"missing_uppercase"}, id="no-uppercase"),
        pytest.param("Qzvkwmtrx", {"missing_digit"}, id="no-digit"),
        pytest.param("Password123", {"common_password"}, id="common"),
        pytest.param("zqxw", {"too_short", "missing_uppercase", "missing_digit"}, id="three-rules"),
        pytest.param(
            "!!!!",
            {"too_short", "missing_uppercase", "missing_lowercase", "missing_digit"},
            id="four-rules",
        ),
    ],
)
def test_weak_password_reports_each_failed_rule(
    client: TestClient, password: str, expected_codes: set[str]
) -> None:
    response = client.post(
        "/auth/signup", json={"email": unique_email("weak"), "password": password}
    )

    body = assert_problem(response, 422, "weak_password")
    codes = [error["code"] for error in body["errors"]]
    assert sorted(codes) == sorted(expected_codes), "one entry per failed rule, no duplicates"
    for error in body["errors"]:
        assert error["field"] == "password"
        assert error["message"]
    assert_no_secret(response, password)


def test_password_containing_email_local_part_is_weak(client: TestClient) -> None:
    local = f"zebra{uuid.uuid4().hex[:6]}"
    password = f"My{local.capitalize()}Pass9"

    response = client.post(
        "/auth/signup", json={"email": f"{local}@example.com", "password": password}
    )

    body = assert_problem(response, 422, "weak_password")
    assert [error["code"] for error in body["errors"]] == ["contains_email"]
    assert_no_secret(response, password)


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("Alice <alice@example.com>", id="display-name"),
        pytest.param("not-an-email", id="no-at"),
        pytest.param("alice@", id="no-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("al ice@example.com", id="inner-space"),
        pytest.param("", id="empty"),
    ],
)
def test_signup_rejects_invalid_email(client: TestClient, email: str) -> None:
    password = "Secret-Sauce-9x"
    response = client.post("/auth/signup", json={"email": email, "password": password})

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["email"]
    assert_no_secret(response, password)


def test_signup_missing_fields_names_each_field(client: TestClient) -> None:
    response = client.post("/auth/signup", json={})

    body = assert_problem(response, 422, "validation_error")
    assert {error["field"] for error in body["errors"]} == {"email", "password"}
    for error in body["errors"]:
        assert set(error) == {"field", "message", "code"}


def test_signup_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/auth/signup",
        content=b'{"email": "a@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )

    assert_problem(response, 422, "validation_error")


def test_password_over_128_characters_is_weak(client: TestClient) -> None:
    """Max 128 characters, and the refusal names the rule without repeating the password."""
    password = "Aa1" + "q" * 126  # 129 characters, strong otherwise

    response = client.post("/auth/signup", json={"email": unique_email(), "password": password})

    body = assert_problem(response, 422, "weak_password")
    assert [error["code"] for error in body["errors"]] == ["too_long"]
    assert_no_secret(response, password)


def test_absurdly_long_password_is_refused_without_echo(client: TestClient) -> None:
    """Megabyte-class input is refused before hashing; the 422 does not repeat it."""
    password = "Aa1" + "x" * 5000

    response = client.post("/auth/signup", json={"email": unique_email(), "password": password})

    assert response.status_code == 422, response.text
    assert_problem(response, 422, response.json().get("code", ""))
    assert response.json()["code"] in {"validation_error", "weak_password"}
    assert_no_secret(response, "x" * 64)


def test_rejected_signup_creates_no_user(client: TestClient) -> None:
    email = unique_email("retry")

    refused = client.post("/auth/signup", json={"email": email, "password": "weak"})
    assert_problem(refused, 422, "weak_password")
    # No account exists: logging in with the weak password fails like any unknown email.
    assert_problem(login(client, email, "weak"), 401, "invalid_credentials")

    retried = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert retried.status_code == 201, retried.text
