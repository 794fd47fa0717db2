"""Bad input to the account endpoints: every field refused with the same 422
problem naming the field, nothing changed in the database, and the rejected value
never echoed back."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from api.api_helpers import assert_no_secret, assert_problem
from support import STRONG_PASSWORD, bearer, signup, unique_email

NEW_PASSWORD = "Fresh8Meadow!"
# The shape of a mailed token (43 URL-safe characters) that no link has.
UNKNOWN_TOKEN = "A" * 43
MISSING = object()

CONTROL_CHARACTERS = ["\u0000", "\u0007", "\u0008", "\u001b", "\u007f", "\u0085", "\n", "\t"]
WRONG_TYPES: list[Any] = [12345, 1.5, True, ["x"], {"x": "y"}]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    needs_token: bool
    valid: dict[str, Any]


ENDPOINTS = {
    "profile": Endpoint("PATCH", "/auth/me", True, {"name": "Ada"}),
    "password_change": Endpoint(
        "POST",
        "/auth/password/change",
        True,
        {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    ),
    "password_forgot": Endpoint(
        "POST", "/auth/password/forgot", False, {"email": "someone@example.com"}
    ),
    "password_reset": Endpoint(
        "POST",
        "/auth/password/reset",
        False,
        {"token": UNKNOWN_TOKEN, "new_password": NEW_PASSWORD},
    ),
    "email_verify": Endpoint("POST", "/auth/email/verify", False, {"token": UNKNOWN_TOKEN}),
    "email_change": Endpoint(
        "POST",
        "/auth/email/change",
        True,
        {"new_email": "elsewhere@example.com", "password": STRONG_PASSWORD},
    ),
    "account_delete": Endpoint("POST", "/auth/me/delete", True, {"password": STRONG_PASSWORD}),
}


def _password_values() -> list[Any]:
    return [
        MISSING,
        None,
        "",
        *WRONG_TYPES,
        "Zq9" * 3334,  # 10,002 characters
        *(f"Sec{ch}ret9Pw" for ch in CONTROL_CHARACTERS),
        "Sec\ud800ret9Pw",  # a lone surrogate
    ]


def _email_values() -> list[Any]:
    return [
        MISSING,
        None,
        "",
        *WRONG_TYPES,
        "q" * 321 + "@example.com",
        "a" * 64 + "@" + ("b" * 60 + ".") * 5 + "com",
        *(f"ne{ch}wbie@example.com" for ch in CONTROL_CHARACTERS),
        "Alice <alice@example.com>",
        "no-at-sign.example.com",
        "two@@example.com",
    ]


def _token_values() -> list[Any]:
    return [
        MISSING,
        None,
        "",
        *WRONG_TYPES,
        "T" * 129,
        "T" * 10_000,
        "T" * 15,  # shorter than any token
        *(f"Tok{ch}enTokenToken12345" for ch in CONTROL_CHARACTERS),
        "TokenTokenToken+/=12345",  # not URL-safe base64
        "TokenToken TokenToken",
        "TokenTokenToken%2012345",
    ]


def _name_values() -> list[Any]:
    return [
        *WRONG_TYPES,
        "N" * 101,
        "N" * 10_000,
        *(f"Nam{ch}eless" for ch in CONTROL_CHARACTERS),
        "Nam\ud800eless",
    ]


VALUES = {
    "password": _password_values,
    "email": _email_values,
    "token": _token_values,
    "name": _name_values,
}

FIELDS = [
    ("profile", "name", "name"),
    ("password_change", "current_password", "password"),
    ("password_change", "new_password", "password"),
    ("password_forgot", "email", "email"),
    ("password_reset", "token", "token"),
    ("password_reset", "new_password", "password"),
    ("email_verify", "token", "token"),
    ("email_change", "new_email", "email"),
    ("email_change", "password", "password"),
    ("account_delete", "password", "password"),
]


# -- helpers -------------------------------------------------------------------------


@pytest.fixture
def account(roomy_client: TestClient) -> dict[str, Any]:
    """A signed-up user whose signup mail has been handled, so the tables stay still."""
    created = signup(roomy_client, name="Ada")
    wait_until_outbox_settled(roomy_client)
    return created


def wait_until_outbox_settled(client: TestClient, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while snapshot(client)["queued"]:
        assert time.monotonic() < deadline, "the mail sender did not settle"
        time.sleep(0.02)


def snapshot(client: TestClient) -> dict[str, Any]:
    """Every row the account endpoints could touch, as plain values."""
    queries = {
        "users": "SELECT id, email, name, password_hash, is_active, email_verified_at FROM users",
        "links": "SELECT id, user_id, purpose, token_hash, email, used_at FROM links",
        "mail_outbox": "SELECT id, user_id, kind, to_address, status FROM mail_outbox",
        "sessions": "SELECT id, user_id, revoked_at FROM sessions",
        "auth_events": "SELECT id, user_id, event_type, email FROM auth_events",
        "queued": "SELECT id FROM mail_outbox WHERE status = 'queued'",
    }
    with Session(client.app.state.container.engine) as session:
        return {
            name: sorted(tuple(str(v) for v in row) for row in session.execute(text(sql)))
            for name, sql in queries.items()
        }


def send(
    client: TestClient, endpoint: Endpoint, access_token: str, payload: dict[str, Any]
) -> httpx.Response:
    """JSON with non-ASCII escaped, as most clients send it (a lone surrogate too)."""
    headers = {"Content-Type": "application/json"}
    if endpoint.needs_token:
        headers.update(bearer(access_token))
    return client.request(
        endpoint.method, endpoint.path, headers=headers, content=json.dumps(payload)
    )


def case_id(value: Any) -> str:
    if value is MISSING:
        return "missing"
    shown = json.dumps(value)
    return shown if len(shown) <= 30 else f"{shown[:20]}...({len(value)} chars)"


def assert_not_echoed(response: httpx.Response, value: Any) -> None:
    """Neither the value nor its JSON-escaped form appears in the response."""
    if isinstance(value, str) and len(value) >= 3:
        assert value not in response.text
        assert json.dumps(value)[1:-1] not in response.text
    assert_no_secret(response, STRONG_PASSWORD, NEW_PASSWORD)


def assert_names_field(problem: dict[str, Any], field: str) -> None:
    fields = [error["field"] for error in problem.get("errors") or []]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), (field, problem)
    for error in problem["errors"]:
        assert set(error) == {"field", "message", "code"}, error
        assert error["message"]
        assert error["code"]


# -- every field, every kind of bad value ------------------------------------------


@pytest.mark.parametrize(
    ("endpoint_name", "field", "kind"),
    [pytest.param(e, f, k, id=f"{e}-{f}") for e, f, k in FIELDS],
)
def test_bad_field_value_is_422_naming_the_field_and_changes_nothing(
    roomy_client: TestClient,
    account: dict[str, Any],
    endpoint_name: str,
    field: str,
    kind: str,
) -> None:
    """Wrong types, missing, oversized, control characters: each one a 422 problem
    that names the field, does not repeat the value, and leaves every table as it was.

    One test per field that walks its bad values keeps the suite quick; each failure
    names the value."""
    endpoint = ENDPOINTS[endpoint_name]
    before = snapshot(roomy_client)
    for value in VALUES[kind]():
        payload = dict(endpoint.valid)
        if value is MISSING:
            del payload[field]
        else:
            payload[field] = value

        response = send(roomy_client, endpoint, account["access_token"], payload)

        case = f"{endpoint_name}.{field} = {case_id(value)}"
        assert response.status_code == 422, f"{case}: {response.text}"
        problem = assert_problem(response, 422, "validation_error")
        assert_names_field(problem, field)
        assert_not_echoed(response, value)
        assert snapshot(roomy_client) == before, f"{case} changed the database"


@pytest.mark.parametrize("endpoint_name", list(ENDPOINTS))
def test_malformed_body_is_422_and_changes_nothing(
    roomy_client: TestClient, account: dict[str, Any], endpoint_name: str
) -> None:
    """No body, not an object, broken JSON, or a form: the same 422 problem."""
    endpoint = ENDPOINTS[endpoint_name]
    before = snapshot(roomy_client)
    json_headers = {"Content-Type": "application/json"}
    attempts: dict[str, dict[str, Any]] = {
        "no body": {},
        "null": {"json": None},
        "array": {"json": [endpoint.valid]},
        "string": {"json": "name"},
        "number": {"json": 7},
        "broken JSON": {"content": b'{"a": ', "headers": json_headers},
        "form": {"data": endpoint.valid},
    }
    for label, kwargs in attempts.items():
        headers = {**(bearer(account["access_token"]) if endpoint.needs_token else {})}
        headers.update(kwargs.pop("headers", {}))

        response = roomy_client.request(endpoint.method, endpoint.path, headers=headers, **kwargs)

        assert response.status_code == 422, f"{endpoint_name}, {label}: {response.text}"
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"], f"{endpoint_name}, {label}"
        assert_no_secret(response, STRONG_PASSWORD, NEW_PASSWORD)
        assert snapshot(roomy_client) == before, f"{endpoint_name}, {label} changed the database"


@pytest.mark.parametrize("endpoint_name", ["password_reset"])
def test_body_that_is_not_utf8_is_a_validation_error_like_broken_json(
    roomy_client: TestClient, account: dict[str, Any], endpoint_name: str
) -> None:
    """Undecodable bytes are as malformed as broken JSON: the same 422
    `validation_error`, not a bare 400 with the catch-all code `http_error`."""
    endpoint = ENDPOINTS[endpoint_name]
    before = snapshot(roomy_client)
    headers = {"Content-Type": "application/json"}
    if endpoint.needs_token:
        headers.update(bearer(account["access_token"]))

    response = roomy_client.request(
        endpoint.method, endpoint.path, headers=headers, content=b'{"new_password": "\xff\xfe"}'
    )

    assert "Traceback" not in response.text
    assert_problem(response, 422, "validation_error")
    assert snapshot(roomy_client) == before


@pytest.mark.parametrize("endpoint_name", list(ENDPOINTS))
def test_unknown_field_is_422_naming_it(
    roomy_client: TestClient, account: dict[str, Any], endpoint_name: str
) -> None:
    """A typo in a field name never passes for a request that does something else."""
    endpoint = ENDPOINTS[endpoint_name]
    before = snapshot(roomy_client)
    for extra in ({"is_admin": True}, {"email_verified_at": "2020-01-01T00:00:00Z"}, {"": "x"}):
        payload = {**endpoint.valid, **extra}

        response = send(roomy_client, endpoint, account["access_token"], payload)

        case = f"{endpoint_name} + {extra}"
        assert response.status_code == 422, f"{case}: {response.text}"
        problem = assert_problem(response, 422, "validation_error")
        [(key, _value)] = extra.items()
        assert key in [error["field"] for error in problem["errors"]] or (
            key == "" and problem["errors"]
        ), (case, problem)
        assert_no_secret(response, STRONG_PASSWORD, NEW_PASSWORD)
        assert snapshot(roomy_client) == before, f"{case} changed the database"


def test_profile_field_typo_is_refused(roomy_client: TestClient, account: dict[str, Any]) -> None:
    """`{"nmae": ...}` must not answer 200 with the name unchanged."""
    response = roomy_client.patch(
        "/auth/me", json={"nmae": "Grace"}, headers=bearer(account["access_token"])
    )

    problem = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in problem["errors"]] == ["nmae"]
    me = roomy_client.get("/auth/me", headers=bearer(account["access_token"]))
    assert me.json()["name"] == "Ada"


# -- well-formed but wrong ---------------------------------------------------------


def test_unknown_token_of_valid_shape_is_400_link_invalid(
    roomy_client: TestClient, account: dict[str, Any]
) -> None:
    """A token that could have been mailed, but was not: `link_invalid`, whatever the
    new password, and nothing changes."""
    before = snapshot(roomy_client)
    tokens = [UNKNOWN_TOKEN, secrets.token_urlsafe(32), "a" * 16, "Z" * 128, "-_" * 30]
    for token in tokens:
        verify = roomy_client.post("/auth/email/verify", json={"token": token})
        reset = roomy_client.post(
            "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        weak_reset = roomy_client.post(
            "/auth/password/reset", json={"token": token, "new_password": "weak"}
        )

        for response in (verify, reset, weak_reset):
            assert_problem(response, 400, "link_invalid")
            assert_no_secret(response, token, NEW_PASSWORD)
    assert snapshot(roomy_client) == before


def test_email_change_to_the_current_address_is_422(
    roomy_client: TestClient, account: dict[str, Any]
) -> None:
    """Changing to the same address (in any case or spacing) is a mistake, not a no-op."""
    before = snapshot(roomy_client)
    current = account["user"]["email"]

    response = roomy_client.post(
        "/auth/email/change",
        json={"new_email": f"  {current.upper()} ", "password": STRONG_PASSWORD},
        headers=bearer(account["access_token"]),
    )

    problem = assert_problem(response, 422, "validation_error")
    assert_names_field(problem, "new_email")
    assert snapshot(roomy_client) == before


def test_forgot_normalises_the_address_like_signup(
    roomy_client: TestClient, account: dict[str, Any]
) -> None:
    """Spaces and capitals around a real address still reach its account."""
    email = account["user"]["email"]

    response = roomy_client.post("/auth/password/forgot", json={"email": f"  {email.upper()}  "})

    assert response.status_code == 202, response.text
    with Session(roomy_client.app.state.container.engine) as session:
        rows = session.execute(
            text("SELECT user_id, to_address FROM mail_outbox WHERE kind = 'password_reset'")
        ).all()
    assert [(str(row[0]).replace("-", ""), row[1]) for row in rows] == [
        (account["user"]["id"].replace("-", ""), email)
    ]


def test_forgot_for_an_unknown_but_valid_address_is_202(roomy_client: TestClient) -> None:
    """The answer for an address without an account is the ordinary 202."""
    response = roomy_client.post("/auth/password/forgot", json={"email": unique_email("ghost")})

    assert response.status_code == 202, response.text


# -- login, where every account flow ends --------------------------------------------


@pytest.mark.parametrize("via", ["login-json", "token-form"])
def test_login_with_a_nul_in_the_email_is_refused_cleanly(
    roomy_client: TestClient, account: dict[str, Any], via: str
) -> None:
    """After a reset or an email change the user logs in again; an address with a NUL
    byte can match no account. PostgreSQL refuses NUL in text, so it must be turned
    away before the query: 401 like any unknown address, or 422, never a 500."""
    email = "nul\u0000byte@example.com"
    if via == "login-json":
        response = roomy_client.post(
            "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
        )
    else:
        response = roomy_client.post(
            "/auth/token", data={"username": email, "password": STRONG_PASSWORD}
        )

    assert response.status_code in (401, 422), response.text
    code = "invalid_credentials" if response.status_code == 401 else "validation_error"
    assert_problem(response, response.status_code, code)
