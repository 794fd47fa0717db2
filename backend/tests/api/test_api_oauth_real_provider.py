"""Social sign-in against a real, OpenID Certified provider: panva's oidc-provider
(npm, pinned in tests/oidc_provider/package.json, installed by `make test`), started
on a loopback port. Its own login and consent pages are driven over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.api_helpers import assert_user
from api.oauth_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_URL,
    oauth_client,
    provider_env,
    signed_in,
    trip,
)
from authapi.models import AuthEvent
from oidc_provider import NodeOidcProvider, deny, installed, sign_in
from support import bearer, unique_email

CALLBACK = f"{PUBLIC_URL}/auth/oauth/certified/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[NodeOidcProvider]:
    if not installed():
        pytest.fail("oidc-provider is not installed: run `make test` (it runs npm ci)")
    with NodeOidcProvider(CLIENT_ID, CLIENT_SECRET, [CALLBACK]) as running:
        yield running


@pytest.fixture
def app_client(
    provider: NodeOidcProvider,
    make_client: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> TestClient:
    provider_env(monkeypatch, "certified", issuer=provider.issuer)
    return oauth_client(make_client, "certified")


def test_a_full_sign_in_at_a_certified_provider(app_client: TestClient) -> None:
    email = unique_email("certified")

    body = signed_in(app_client, trip(app_client, "certified", partial(sign_in, login=email)))

    assert_user(body["user"], email)
    assert body["user"]["email_verified_at"] is not None
    assert body["user"]["has_password"] is False
    assert app_client.get("/auth/me", headers=bearer(body["access_token"])).status_code == 200
    with Session(app_client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(AuthEvent)
            .where(col(AuthEvent.user_id) == uuid.UUID(body["user"]["id"]))
            .order_by(col(AuthEvent.created_at))
        ).all()
    kinds = [(row.event_type, row.reason) for row in rows]
    assert ("oauth_signup", "certified") in kinds
    assert ("identity_linked", "certified") in kinds
    assert ("login_success", "oauth") in kinds


def test_the_same_person_comes_back_to_the_same_account(app_client: TestClient) -> None:
    email = unique_email("returning")
    at_provider = partial(sign_in, login=email)
    first = signed_in(app_client, trip(app_client, "certified", at_provider))
    second = signed_in(app_client, trip(app_client, "certified", at_provider))
    assert first["user"]["id"] == second["user"]["id"]


def test_an_unverified_address_at_the_provider_is_not_verified_here(
    app_client: TestClient,
) -> None:
    email = unique_email("unproven")
    at_provider = partial(sign_in, login=f"unverified:{email}")

    body = signed_in(app_client, trip(app_client, "certified", at_provider))

    assert body["user"]["email"] == email
    assert body["user"]["email_verified_at"] is None


def test_cancelling_at_the_provider_is_oauth_denied(app_client: TestClient) -> None:
    assert trip(app_client, "certified", deny).result == {"error": "oauth_denied"}
