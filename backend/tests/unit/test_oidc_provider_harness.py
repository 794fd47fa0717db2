"""The test OpenID provider itself: sign-in, consent, code exchange, the claims it issues.

A self-test of backend/tests/oidc_provider.py and oidc_provider/provider.mjs, independent of
authapi's own OIDC client. Skipped when `npm ci` has not been run in backend/tests/oidc_provider.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

import oidc_provider
from oidc_provider import NodeOidcProvider, deny, sign_in

CLIENT_ID = "authapi-test"
CLIENT_SECRET = "authapi-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/auth/oidc/callback"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def provider() -> Iterator[NodeOidcProvider]:
    if not oidc_provider.installed():
        pytest.skip("oidc-provider is not installed: run `npm ci` in backend/tests/oidc_provider")
    with NodeOidcProvider(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI]) as op:
        yield op


@pytest.fixture(scope="module")
def metadata(provider: NodeOidcProvider) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(provider.discovery_url).json()
    assert document["issuer"] == provider.issuer
    return document


def _authorize_url(metadata: dict[str, Any], state: str, nonce: str, verifier: str) -> str:
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{metadata['authorization_endpoint']}?{query}"


def _payload(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _sign_in_and_exchange(metadata: dict[str, Any], login: str) -> dict[str, Any]:
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    with httpx.Client() as browser:
        back = sign_in(browser, _authorize_url(metadata, state, nonce, verifier), login)
    assert back.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == [state]
    assert query["iss"] == [metadata["issuer"]]
    (code,) = query["code"]

    token = httpx.post(
        metadata["token_endpoint"],
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    claims = _payload(body["id_token"])
    assert claims["nonce"] == nonce
    assert claims["aud"] == CLIENT_ID
    assert claims["iss"] == metadata["issuer"]

    userinfo = httpx.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert userinfo.status_code == 200, userinfo.text
    return {"id_token": claims, "userinfo": userinfo.json(), "header": body["id_token"]}


def test_sign_in_gives_a_code_and_a_verified_email(metadata: dict[str, Any]) -> None:
    result = _sign_in_and_exchange(metadata, "alice@example.com")
    header = _payload("x." + result["header"].split(".")[0])
    assert header["alg"] == "RS256"
    for claims in (result["id_token"], result["userinfo"]):
        assert claims["sub"] == "alice@example.com"
        assert claims["email"] == "alice@example.com"
        assert claims["email_verified"] is True
        assert claims["name"] == "alice"


def test_unverified_prefix_gives_an_unverified_email(metadata: dict[str, Any]) -> None:
    result = _sign_in_and_exchange(metadata, "unverified:bob@example.com")
    for claims in (result["id_token"], result["userinfo"]):
        assert claims["sub"] == "unverified:bob@example.com"
        assert claims["email"] == "bob@example.com"
        assert claims["email_verified"] is False
        assert claims["name"] == "bob"


def test_login_without_at_gives_no_email(metadata: dict[str, Any]) -> None:
    result = _sign_in_and_exchange(metadata, "carol")
    for claims in (result["id_token"], result["userinfo"]):
        assert claims["sub"] == "carol"
        assert "email" not in claims
        assert "email_verified" not in claims


def test_code_needs_the_pkce_verifier(metadata: dict[str, Any]) -> None:
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    with httpx.Client() as browser:
        back = sign_in(
            browser, _authorize_url(metadata, state, nonce, verifier), "dave@example.com"
        )
    (code,) = parse_qs(urlsplit(back).query)["code"]
    token = httpx.post(
        metadata["token_endpoint"],
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": secrets.token_urlsafe(32),
        },
    )
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_grant"


def test_cancel_gives_access_denied(metadata: dict[str, Any]) -> None:
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    with httpx.Client() as browser:
        back = deny(browser, _authorize_url(metadata, state, nonce, verifier))
    assert back.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(back).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
    assert "code" not in query
