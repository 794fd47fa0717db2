"""Bearer-protected endpoints: /auth/me, /auth/sessions, /auth/logout, /auth/logout-all,
and every way a token is refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jose import jwt

from api.api_helpers import (
    TEST_CLIENT_IP,
    assert_problem,
    assert_user,
    login_token,
    parse_utc,
    token_claims,
)
from support import TEST_SECRET, bearer, signup

OTHER_SECRET = "not-the-server-secret-0123456789-abcdefghijklmnop"


def assert_token_refused(response: httpx.Response, code: str) -> None:
    """401 with the code, and a challenge saying the token sent was the problem."""
    assert_problem(response, 401, code)
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    assert 'error="invalid_token"' in challenge, challenge


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def me(client: TestClient, token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(token))


# -- /auth/me ------------------------------------------------------------------------


def test_me_returns_the_token_user(client: TestClient) -> None:
    created = signup(client, name="Linus")

    response = me(client, created["access_token"])

    assert response.status_code == 200, response.text
    assert_user(response.json(), created["user"]["email"])
    assert response.json() == {**created["user"], "impersonated_by": None}


def test_me_without_token_is_401_token_missing(client: TestClient) -> None:
    response = client.get("/auth/me")

    assert_problem(response, 401, "token_missing")
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer")
    assert "invalid_token" not in challenge


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("not.a.jwt", id="three-garbage-parts"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.e30.", id="empty-signature"),
    ],
)
def test_me_with_garbage_token_is_401_token_invalid(client: TestClient, token: str) -> None:
    signup(client)  # a real user exists; the token still proves nothing

    assert_token_refused(me(client, token), "token_invalid")


def test_token_signed_with_another_secret_is_refused(client: TestClient) -> None:
    claims = token_claims(signup(client)["access_token"])
    forged = jwt.encode(claims, OTHER_SECRET, algorithm="HS256")

    assert_token_refused(me(client, forged), "token_invalid")


def test_token_with_edited_payload_is_refused(client: TestClient) -> None:
    """Swapping the payload of a genuine token for another user's id breaks the signature."""
    victim = signup(client)["user"]["id"]
    attacker = signup(client)["access_token"]
    header, _payload, signature = attacker.split(".")
    tampered = ".".join((header, b64url({**token_claims(attacker), "sub": victim}), signature))

    assert_token_refused(me(client, tampered), "token_invalid")


def test_unsigned_alg_none_token_is_refused(client: TestClient) -> None:
    claims = token_claims(signup(client)["access_token"])
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."

    assert_token_refused(me(client, unsigned), "token_invalid")


def test_token_for_another_audience_is_refused(client: TestClient) -> None:
    claims = token_claims(signup(client)["access_token"])
    other_audience = jwt.encode({**claims, "aud": "some-other-api"}, TEST_SECRET, "HS256")

    assert_token_refused(me(client, other_audience), "token_invalid")


def test_validly_signed_token_for_unknown_session_is_refused(client: TestClient) -> None:
    """Every token must belong to a session row; a signature alone is not enough."""
    claims = token_claims(signup(client)["access_token"])
    orphan = jwt.encode({**claims, "sid": str(uuid.uuid4())}, TEST_SECRET, "HS256")

    assert_token_refused(me(client, orphan), "token_invalid")


def test_expired_token_is_401_token_expired(client: TestClient) -> None:
    claims = token_claims(signup(client)["access_token"])
    past = datetime.now(UTC) - timedelta(days=2)
    expired = jwt.encode(
        {
            **claims,
            "iat": int(past.timestamp()),
            "exp": int((past + timedelta(hours=1)).timestamp()),
        },
        TEST_SECRET,
        "HS256",
    )

    assert_token_refused(me(client, expired), "token_expired")


# -- logout --------------------------------------------------------------------------


def test_logout_revokes_this_token_only(client: TestClient) -> None:
    created = signup(client)
    token = created["access_token"]
    other = login_token(client, created["user"]["email"])

    response = client.post("/auth/logout", headers=bearer(token))

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_token_refused(me(client, token), "token_revoked")
    assert me(client, other).status_code == 200, "the user's other sessions keep working"


def test_logout_twice_with_same_token_is_401(client: TestClient) -> None:
    token = signup(client)["access_token"]
    assert client.post("/auth/logout", headers=bearer(token)).status_code == 204

    again = client.post("/auth/logout", headers=bearer(token))

    assert_token_refused(again, "token_revoked")


def test_revoked_token_stays_revoked_when_re_encoded(client: TestClient) -> None:
    """Revocation follows the session inside the token, not the token string."""
    token = signup(client)["access_token"]
    assert client.post("/auth/logout", headers=bearer(token)).status_code == 204

    response = me(client, token + "=")

    code = response.json().get("code")
    assert code in {"token_revoked", "token_invalid"}, response.text
    assert_token_refused(response, code)


def test_logout_without_token_is_401(client: TestClient) -> None:
    assert_problem(client.post("/auth/logout"), 401, "token_missing")
    assert_problem(client.post("/auth/logout-all"), 401, "token_missing")


def test_logout_all_revokes_every_token_of_the_user(client: TestClient) -> None:
    created = signup(client)
    email = created["user"]["email"]
    tokens = [created["access_token"], login_token(client, email), login_token(client, email)]
    bystander = signup(client)["access_token"]

    response = client.post("/auth/logout-all", headers=bearer(tokens[1]))

    assert response.status_code == 204, response.text
    assert response.content == b""
    for token in tokens:
        assert_token_refused(me(client, token), "token_revoked")
    assert me(client, bystander).status_code == 200, "other users are not logged out"
    assert me(client, login_token(client, email)).status_code == 200, "a new login works"


# -- sessions ------------------------------------------------------------------------


def sessions(client: TestClient, token: str) -> list[dict[str, Any]]:
    response = client.get("/auth/sessions", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def test_sessions_lists_active_sessions_and_marks_current(client: TestClient) -> None:
    created = client.post(
        "/auth/signup",
        json={"email": f"s-{uuid.uuid4().hex[:8]}@example.com", "password": "Correct7Horse!"},
        headers={"User-Agent": "Laptop/1.0"},
    ).json()
    email = created["user"]["email"]
    phone = client.post(
        "/auth/login",
        json={"email": email, "password": "Correct7Horse!"},
        headers={"User-Agent": "Phone/2.0"},
    ).json()["access_token"]
    signup(client)  # someone else's session must not be listed

    listed = sessions(client, phone)

    sids = {token_claims(t)["sid"]: t for t in (created["access_token"], phone)}
    assert {row["id"] for row in listed} == set(sids)
    by_id = {row["id"]: row for row in listed}
    phone_row = by_id[token_claims(phone)["sid"]]
    laptop_row = by_id[token_claims(created["access_token"])["sid"]]
    assert phone_row["current"] is True
    assert laptop_row["current"] is False
    assert phone_row["user_agent"] == "Phone/2.0"
    assert laptop_row["user_agent"] == "Laptop/1.0"
    for row in listed:
        assert {"id", "created_at", "ip_address", "user_agent", "current"} <= set(row)
        assert row["ip_address"] == TEST_CLIENT_IP
        parse_utc(row["created_at"])
        assert "token" not in json.dumps(row).lower()


def test_sessions_current_follows_the_calling_token(client: TestClient) -> None:
    created = signup(client)
    other = login_token(client, created["user"]["email"])

    listed = sessions(client, created["access_token"])

    current = [row["id"] for row in listed if row["current"]]
    assert current == [token_claims(created["access_token"])["sid"]]
    assert token_claims(other)["sid"] in {row["id"] for row in listed}


def test_revoked_session_disappears_from_list(client: TestClient) -> None:
    created = signup(client)
    email = created["user"]["email"]
    leaving = login_token(client, email)
    assert client.post("/auth/logout", headers=bearer(leaving)).status_code == 204

    listed = sessions(client, created["access_token"])

    assert [row["id"] for row in listed] == [token_claims(created["access_token"])["sid"]]


def test_sessions_after_logout_all_only_shows_new_login(client: TestClient) -> None:
    created = signup(client)
    email = created["user"]["email"]
    assert (
        client.post("/auth/logout-all", headers=bearer(created["access_token"])).status_code == 204
    )
    fresh = login_token(client, email)

    listed = sessions(client, fresh)

    assert [(row["id"], row["current"]) for row in listed] == [(token_claims(fresh)["sid"], True)]


def test_sessions_without_token_is_401(client: TestClient) -> None:
    assert_problem(client.get("/auth/sessions"), 401, "token_missing")
