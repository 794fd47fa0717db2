"""Forged, tampered, expired, unknown and revoked bearer tokens: every one gets a
401 problem+json over HTTP, and every rejection of a sent token is audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlmodel import Session, select

from authapi.models import AuthEvent, AuthEventType
from authapi.repositories import users
from support import TEST_SECRET, bearer, signup, unique_email

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}
OTHER_SECRET = "another-secret-that-is-long-enough-0123456789"


# --- helpers ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def real_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


def sign(claims: dict[str, Any], secret: str = TEST_SECRET) -> str:
    token: str = jwt.encode(claims, secret, algorithm="HS256")
    return token


def assert_unauthorized(response: httpx.Response, code: str, *, token_sent: bool = True) -> None:
    """401, RFC 9457 problem+json with a stable code, and a Bearer challenge."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["type"]
    assert body["title"] == "Unauthorized"
    assert body["status"] == 401
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["code"] == code, body
    assert body["request_id"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    challenge = response.headers.get("WWW-Authenticate")
    assert challenge is not None, "a 401 must carry WWW-Authenticate"
    assert challenge.startswith("Bearer")
    if token_sent:
        assert 'error="invalid_token"' in challenge, challenge
    else:
        assert "error=" not in challenge, challenge
    assert "Traceback" not in response.text


def events_for_request(client: TestClient, request_id: str) -> list[AuthEvent]:
    with Session(client.app.state.container.engine) as session:
        return list(session.exec(select(AuthEvent).where(AuthEvent.request_id == request_id)).all())


def assert_rejection_audited(
    client: TestClient, response: httpx.Response, user_id: str | None = None
) -> AuthEvent:
    """Exactly one `token_rejected` row, written for this very request."""
    rows = events_for_request(client, response.headers["X-Request-ID"])
    rejected = [row for row in rows if row.event_type == AuthEventType.TOKEN_REJECTED.value]
    assert len(rejected) == 1, [(row.event_type, row.reason) for row in rows]
    if user_id is not None:
        assert str(rejected[0].user_id) == user_id
    return rejected[0]


def me(client: TestClient, token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(token))


@pytest.fixture
def issued(roomy_client: TestClient) -> dict[str, Any]:
    """A real signup: its token works before each forgery is tried."""
    body = signup(roomy_client, unique_email("tokens"))
    assert me(roomy_client, body["access_token"]).status_code == 200
    return body


# --- forged and tampered tokens --------------------------------------------------------


def garbage(token: str) -> str:
    return "garbage"


def other_secret(token: str) -> str:
    return sign(real_claims(token), OTHER_SECRET)


def alg_none(token: str) -> str:
    payload = token.split(".")[1]
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{payload}."


def hs_rs_confusion(token: str) -> str:
    """Header says RS256; the signature is an HMAC keyed with the server's secret,
    as an attacker would do with a public key against a verifier that trusts `alg`."""
    signing_input = f"{b64url_json({'alg': 'RS256', 'typ': 'JWT'})}.{token.split('.')[1]}"
    signature = hmac.new(TEST_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def missing_exp(token: str) -> str:
    claims = real_claims(token)
    del claims["exp"]
    return sign(claims)


def wrong_audience(token: str) -> str:
    return sign({**real_claims(token), "aud": "some-other-service"})


def wrong_issuer(token: str) -> str:
    return sign({**real_claims(token), "iss": "https://evil.example.com"})


def unknown_session(token: str) -> str:
    return sign({**real_claims(token), "sid": str(uuid.uuid4())})


def raw_claim(name: str, number: str) -> Callable[[str], str]:
    """The real claims, validly signed, with `name` set to a JSON number written as
    is: `1e999` parses to infinity, which json.dumps (and so jwt.encode) cannot write."""

    def forge(token: str) -> str:
        claims = {key: value for key, value in real_claims(token).items() if key != name}
        payload = f'{json.dumps(claims, separators=(",", ":"))[:-1]},"{name}":{number}}}'
        signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(payload.encode())}"
        signature = hmac.new(TEST_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    return forge


FORGERIES: dict[str, Callable[[str], str]] = {
    "garbage": garbage,
    "other_secret": other_secret,
    "alg_none": alg_none,
    "hs_rs_confusion": hs_rs_confusion,
    "missing_exp": missing_exp,
    "wrong_audience": wrong_audience,
    "wrong_issuer": wrong_issuer,
    "unknown_session": unknown_session,
    # Finding 13: numbers no int can hold (python-jose's own claim checks overflowed: 500)
    "exp_1e999": raw_claim("exp", "1e999"),
    "exp_minus_1e999": raw_claim("exp", "-1e999"),
    "iat_1e999": raw_claim("iat", "1e999"),
    "nbf_1e999": raw_claim("nbf", "1e999"),
    "nbf_minus_1e999": raw_claim("nbf", "-1e999"),
    "exp_1e300": raw_claim("exp", "1e300"),
}


def test_resigning_the_real_claims_is_accepted(
    roomy_client: TestClient, issued: dict[str, Any]
) -> None:
    """Control: the forging tools themselves are right, so each rejection below is due
    to the one thing each forgery changes."""
    token = issued["access_token"]
    resigned = sign(real_claims(token))
    response = me(roomy_client, resigned)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == issued["user"]["id"]
    written = raw_claim("exp", str(real_claims(token)["exp"]))(token)
    assert me(roomy_client, written).status_code == 200


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_token_is_rejected_and_audited(
    roomy_client: TestClient, issued: dict[str, Any], forge: Callable[[str], str]
) -> None:
    forged = forge(issued["access_token"])
    assert forged != issued["access_token"]

    response = me(roomy_client, forged)

    assert_unauthorized(response, "token_invalid")
    assert forged not in response.text
    assert_rejection_audited(roomy_client, response)


def test_expired_token_is_rejected_as_expired(
    roomy_client: TestClient, issued: dict[str, Any]
) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {**real_claims(issued["access_token"]), "iat": now - 7200, "exp": now - 60}
    expired = sign(claims)

    response = me(roomy_client, expired)

    assert_unauthorized(response, "token_expired")
    assert_rejection_audited(roomy_client, response)


def test_no_token_is_token_missing_and_not_audited(roomy_client: TestClient) -> None:
    response = roomy_client.get("/auth/me")

    assert_unauthorized(response, "token_missing", token_sent=False)
    assert events_for_request(roomy_client, response.headers["X-Request-ID"]) == []


# --- revoked and disabled ----------------------------------------------------------


def test_revoked_token_is_rejected_even_when_re_encoded(
    roomy_client: TestClient, issued: dict[str, Any]
) -> None:
    token = issued["access_token"]
    user_id = issued["user"]["id"]

    logout = roomy_client.post("/auth/logout", headers=bearer(token))
    assert logout.status_code == 204, logout.text

    response = me(roomy_client, token)
    assert_unauthorized(response, "token_revoked")
    assert_rejection_audited(roomy_client, response, user_id)

    # Premise: the padded string is a different string that the JWT library still
    # accepts as the same valid token, so only a revocation keyed on the session id
    # (not on the token string) can refuse it.
    padded = token + "="
    settings = roomy_client.app.state.settings
    decoded = jwt.decode(
        padded,
        TEST_SECRET,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert decoded["sid"] == real_claims(token)["sid"]

    response = me(roomy_client, padded)
    assert_unauthorized(response, "token_revoked")
    assert_rejection_audited(roomy_client, response, user_id)


def test_token_of_a_disabled_user_is_rejected(
    roomy_client: TestClient, issued: dict[str, Any]
) -> None:
    container = roomy_client.app.state.container  # type: ignore[attr-defined]
    with container.unit_of_work() as uow:
        user = users.get_by_email(uow.session, issued["user"]["email"])
        assert user is not None
        container.sessions.disable_user(uow, user)

    response = me(roomy_client, issued["access_token"])

    assert_unauthorized(response, "token_revoked")
    assert_rejection_audited(roomy_client, response, issued["user"]["id"])
    # Every protected endpoint refuses it, not only /auth/me.
    sessions = roomy_client.get("/auth/sessions", headers=bearer(issued["access_token"]))
    assert_unauthorized(sessions, "token_revoked")
    assert_rejection_audited(roomy_client, sessions, issued["user"]["id"])
