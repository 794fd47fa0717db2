"""The `github` preset: plain OAuth2 with GitHub's user and emails API, against a test
double speaking GitHub's shapes (fake_idp.FakeGitHub: GitHub cannot run here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_user
from api.oauth_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    oauth_client,
    provider_env,
    query,
    signed_in,
    trip,
)
from api.test_api_oauth import users_named, verified_local_account
from fake_idp import FakeGitHub
from support import unique_email


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        yield fake


@pytest.fixture
def app_client(
    github: FakeGitHub, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    provider_env(
        monkeypatch,
        "github",
        authorize_url=f"{github.base_url}/login/oauth/authorize",
        token_url=f"{github.base_url}/login/oauth/access_token",
        api_url=github.api_url,
    )
    return oauth_client(make_client, "github")


def primary(github: FakeGitHub, email: str, *, verified: bool) -> None:
    github.emails = [
        {"email": "old@example.com", "primary": False, "verified": True, "visibility": None},
        {"email": email, "primary": True, "verified": verified, "visibility": "private"},
    ]


def test_github_sign_in_uses_the_primary_verified_address(
    app_client: TestClient, github: FakeGitHub
) -> None:
    email = unique_email("octo")
    primary(github, email, verified=True)

    the_trip = trip(app_client, "github", github.browser_step)
    body = signed_in(app_client, the_trip)

    assert_user(body["user"], email)
    assert body["user"]["email_verified_at"] is not None
    assert body["user"]["name"] == "Octo Cat"
    asked = query(the_trip.provider_url)
    assert asked["scope"] == "read:user user:email"
    assert asked["code_challenge_method"] == "S256"
    assert "nonce" not in asked
    assert app_client.get("/auth/oauth/providers").json() == [{"id": "github", "name": "GitHub"}]


def test_an_unverified_primary_address_makes_an_unverified_account(
    app_client: TestClient, github: FakeGitHub
) -> None:
    email = unique_email("unverified-octo")
    primary(github, email, verified=False)

    body = signed_in(app_client, trip(app_client, "github", github.browser_step))

    assert body["user"]["email"] == email
    assert body["user"]["email_verified_at"] is None


def test_an_unverified_primary_address_never_links(
    app_client: TestClient, github: FakeGitHub
) -> None:
    email = unique_email("taken-octo")
    verified_local_account(app_client, email)
    primary(github, email, verified=False)

    assert trip(app_client, "github", github.browser_step).result == {"error": "email_not_verified"}
    assert len(users_named(app_client, email)) == 1


def test_the_github_identity_is_its_numeric_id(app_client: TestClient, github: FakeGitHub) -> None:
    """The address may change at GitHub; the account follows the user id."""
    primary(github, unique_email("first-address"), verified=True)
    first = signed_in(app_client, trip(app_client, "github", github.browser_step))
    primary(github, unique_email("second-address"), verified=True)

    second = signed_in(app_client, trip(app_client, "github", github.browser_step))

    assert second["user"]["id"] == first["user"]["id"]
