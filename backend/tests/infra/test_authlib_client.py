"""An OAuth2 client library against a real authapi process: authlib's httpx
OAuth2Client logs in with the password grant at /auth/token, and when its access
token is about to expire it refreshes by itself with the refresh grant (RFC 6749
section 6), as integrators' code does. Refusals carry OAuth2's `error`, which is how
such a library tells a refused token request from a token."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import authlib.deprecate  # noqa: F401  (installs its filter first, so ours wins below)
import httpx
import pytest
from jose import jwt

from authapi.keys import hs_key
from servers import authapi_server
from support import STRONG_PASSWORD, TEST_SECRET, bearer, unique_email

with warnings.catch_warnings():  # authlib nudges towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

pytestmark = pytest.mark.slow

ACCESS_TTL = 60
# authlib counts a token as expired `leeway` seconds before its `expires_at`: with
# 58 s of a 60 s token, it is fresh for the first second or so, then expired.
LEEWAY = ACCESS_TTL - 2


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("authlib")
    with authapi_server(
        workdir, ACCESS_TOKEN_TTL_SECONDS=str(ACCESS_TTL), RATE_LIMIT_AUTH="100/minute"
    ) as url:
        yield url


@pytest.fixture
def account(base_url: str) -> dict[str, Any]:
    email = unique_email("authlib")
    response = httpx.post(
        f"{base_url}/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def oauth2_client(base_url: str, leeway: int = LEEWAY) -> OAuth2Client:
    """A public client (no client secret), as a first-party app or a CLI is."""
    return OAuth2Client(
        client_id="authlib-test",
        token_endpoint_auth_method="none",
        token_endpoint=f"{base_url}/auth/token",
        leeway=leeway,
        timeout=10,
    )


def wait_until_expired(client: OAuth2Client) -> None:
    """Sleep until authlib counts the token as expired (about a second)."""
    deadline = time.monotonic() + 5
    while not client.token.is_expired(leeway=client.leeway):
        assert time.monotonic() < deadline, client.token
        time.sleep(0.1)


def test_authlib_logs_in_and_refreshes_by_itself(base_url: str, account: dict[str, Any]) -> None:
    email = account["user"]["email"]
    with oauth2_client(base_url) as client:
        token = client.fetch_token(
            f"{base_url}/auth/token",
            username=email,
            password=STRONG_PASSWORD,
            grant_type="password",
        )
        assert token["token_type"] == "bearer"
        assert token["expires_in"] == ACCESS_TTL
        assert len(token["refresh_token"]) >= 43
        first_access, first_refresh = token["access_token"], token["refresh_token"]

        me = client.get(f"{base_url}/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
        # Still fresh: the first call did not refresh.
        assert client.token["access_token"] == first_access

        wait_until_expired(client)
        again = client.get(f"{base_url}/auth/me")

        assert again.status_code == 200, again.text
        assert again.json()["email"] == email
        assert client.token["access_token"] != first_access
        assert client.token["refresh_token"] != first_refresh
        assert client.token["expires_in"] == ACCESS_TTL
        assert not client.token.is_expired(leeway=0)
        # The new access token is the same session's.
        assert (
            jwt.get_unverified_claims(client.token["access_token"])["sid"]
            == jwt.get_unverified_claims(first_access)["sid"]
        )

        # And once more, with the successor.
        second_refresh = client.token["refresh_token"]
        wait_until_expired(client)
        assert client.get(f"{base_url}/auth/me").status_code == 200
        assert client.token["refresh_token"] not in (first_refresh, second_refresh)


def test_authlib_sees_invalid_grant_when_the_session_has_ended(
    base_url: str, account: dict[str, Any]
) -> None:
    with oauth2_client(base_url) as client:
        client.fetch_token(
            f"{base_url}/auth/token",
            username=account["user"]["email"],
            password=STRONG_PASSWORD,
            grant_type="password",
        )
        assert client.post(f"{base_url}/auth/logout").status_code == 204
        wait_until_expired(client)

        with pytest.raises(OAuthError) as refused:
            client.get(f"{base_url}/auth/me")

    assert refused.value.error == "invalid_grant"


def test_authlib_sees_invalid_grant_for_a_wrong_password(
    base_url: str, account: dict[str, Any]
) -> None:
    with oauth2_client(base_url) as client, pytest.raises(OAuthError) as refused:
        client.fetch_token(
            f"{base_url}/auth/token",
            username=account["user"]["email"],
            password="Wrong1Password",
            grant_type="password",
        )

    assert refused.value.error == "invalid_grant"


def test_authlib_sees_an_error_for_a_malformed_refresh_token(base_url: str) -> None:
    """A refresh token that is not the shape of one is refused with a 422; OAuth2
    clients need `error` in it, or they take the problem document for a token."""
    with oauth2_client(base_url) as client, pytest.raises(OAuthError) as refused:
        client.refresh_token(f"{base_url}/auth/token", refresh_token="not+a/refresh=token")

    assert refused.value.error == "invalid_request"


def expired_token(access_token: str) -> str:
    """The same claims, signed with the server's key, but with `exp` in the past."""
    claims = jwt.get_unverified_claims(access_token)
    past = datetime.now(UTC) - timedelta(minutes=5)
    claims.update(iat=int((past - timedelta(seconds=ACCESS_TTL)).timestamp()))
    claims.update(exp=int(past.timestamp()), jti=uuid.uuid4().hex)
    key = hs_key(TEST_SECRET, "HS256")
    token: str = jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers={"kid": key.kid})
    return token


def test_an_expired_token_sent_as_is_gets_token_expired(
    base_url: str, account: dict[str, Any]
) -> None:
    stale = expired_token(account["access_token"])
    # authlib believes the token fresh (its own expires_at) and has nothing to
    # refresh with, so it sends it as it is; the server checks `exp` itself.
    with oauth2_client(base_url, leeway=0) as client:
        client.token = {
            "access_token": stale,
            "token_type": "bearer",
            "expires_at": int(time.time()) + 3600,
        }
        response = client.get(f"{base_url}/auth/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # The same session's live token still works: only the stale one is refused.
    live = httpx.get(f"{base_url}/auth/me", headers=bearer(account["access_token"]))
    assert live.status_code == 200
