"""POST /auth/introspect (RFC 7662): a listed resource server learns whether an access
token is live; any other token is `{active: false}`, any other caller a 401."""

from __future__ import annotations

import base64
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_no_secret, assert_problem, token_claims
from api.test_api_admin import make_admin, set_role
from authapi import errors
from authapi.models.base import utcnow
from authapi.security import TokenConfig, encode_access_token
from support import bearer, signup

SECRET = "s3cret-of-the-resource-server-0123456789"
OTHER_SECRET = "another-resource-servers-secret-abcdefgh"
CLIENTS = f"orders:{SECRET},billing:{OTHER_SECRET}"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}


def introspect(
    app: TestClient, token: str, headers: dict[str, str] | None = None, **form: str
) -> httpx.Response:
    headers = basic("orders", SECRET) if headers is None else headers
    return app.post("/auth/introspect", data={"token": token, **form}, headers=headers)


def active(app: TestClient, token: str) -> dict[str, Any]:
    response = introspect(app, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def app(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(introspection_clients=CLIENTS, rate_limit_auth="1000/minute")


def container_of(app: TestClient) -> Any:
    return app.app.state.container  # type: ignore[attr-defined]


# -- the answer -------------------------------------------------------------------------


def test_a_live_token_is_active_with_its_claims(app: TestClient) -> None:
    created = signup(app)
    token = created["access_token"]

    body = active(app, token)

    claims = token_claims(token)
    assert body == {
        "active": True,
        "sub": created["user"]["id"],
        "sid": claims["sid"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": claims["iss"],
        "aud": claims["aud"],
        "role": "user",
        "token_type": "access_token",
    }
    # The second client is a client too; a hint is accepted.
    again = introspect(app, token, basic("billing", OTHER_SECRET), token_type_hint="access_token")
    assert again.json() == body


def test_a_logged_out_token_is_inactive_and_says_nothing_more(app: TestClient) -> None:
    token = signup(app)["access_token"]
    assert app.post("/auth/logout", headers=bearer(token)).status_code == 204

    assert active(app, token) == {"active": False}
    # The user's own requests are refused as before: introspection changed nothing.
    assert_problem(app.get("/auth/me", headers=bearer(token)), 401, "token_revoked")


def test_expired_unknown_and_malformed_tokens_are_inactive(app: TestClient) -> None:
    created = signup(app)
    tokens: TokenConfig = container_of(app).tokens
    live = token_claims(created["access_token"])
    user_id, session_id = created["user"]["id"], live["sid"]

    past = utcnow() - timedelta(minutes=2)
    expired, _ = encode_access_token(
        tokens, uuid.UUID(user_id), uuid.UUID(session_id), past, ttl=timedelta(minutes=1)
    )
    unknown_session, _ = encode_access_token(tokens, uuid.UUID(user_id), uuid.uuid4(), utcnow())
    other_key = TokenConfig(
        secret="a-different-secret-0123456789-abcdefghijklmnop",
        algorithm="HS256",
        issuer=tokens.issuer,
        audience=tokens.audience,
        ttl=tokens.ttl,
    )
    forged, _ = encode_access_token(other_key, uuid.UUID(user_id), uuid.UUID(session_id), utcnow())
    head, payload, _ = created["access_token"].split(".")

    for token in [
        expired,
        unknown_session,
        forged,
        f"{head}.{payload}.",
        "not-a-token",
        "a.b.c",
        "x" * 8192,
        "\u00e9\u00e9",
    ]:
        assert active(app, token) == {"active": False}, token[:40]
    assert active(app, created["access_token"])["active"] is True


def test_a_disabled_user_is_inactive_and_a_new_role_shows_at_once(app: TestClient) -> None:
    created = signup(app)
    token, email = created["access_token"], created["user"]["email"]

    set_role(app, email, "admin")
    assert active(app, token)["role"] == "admin"  # the token itself still says "user"
    assert token_claims(token)["role"] == "user"

    admin_token, _ = make_admin(app)
    disabled = app.post(
        f"/admin/users/{created['user']['id']}/disable",
        json={"reason": "test"},
        headers=bearer(admin_token),
    )
    assert disabled.status_code == 204, disabled.text
    assert active(app, token) == {"active": False}


def test_an_impersonation_names_the_admin_in_act(app: TestClient) -> None:
    admin_token, admin_user = make_admin(app)
    user = signup(app)["user"]
    started = app.post(f"/admin/users/{user['id']}/impersonate", headers=bearer(admin_token))
    assert started.status_code == 200, started.text

    body = active(app, started.json()["access_token"])

    assert (body["sub"], body["act"]) == (user["id"], {"sub": admin_user["id"]})
    assert "act" not in active(app, admin_token)


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [{}, {"token": ""}, {"token": "x" * 8193}, {"token": "t", "token_type_hint": "h" * 65}],
)
def test_a_bad_body_is_a_422(app: TestClient, form: dict[str, str]) -> None:
    response = app.post("/auth/introspect", data=form, headers=basic("orders", SECRET))
    assert_problem(response, 422, "validation_error")


# -- client credentials ---------------------------------------------------------------


def refused(response: httpx.Response) -> None:
    problem = assert_problem(response, 401, "invalid_client")
    assert problem["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="authapi"'
    assert_no_secret(response, SECRET, OTHER_SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("orders", OTHER_SECRET),  # another client's secret
        basic("orders", SECRET[:-1]),
        basic("orders", SECRET + "x"),
        basic("nobody", SECRET),
        basic("", ""),
        basic("ORDERS", SECRET),
        {"Authorization": f"Bearer {SECRET}"},
        {"Authorization": "Basic"},
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"orders-no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"orders:\xff\xfe").decode()},
    ],
    ids=[
        "none",
        "other-clients-secret",
        "secret-short-by-one",
        "secret-long-by-one",
        "unknown-id",
        "empty",
        "id-in-another-case",
        "bearer",
        "basic-without-value",
        "not-base64",
        "no-colon",
        "not-utf8",
    ],
)
def test_without_a_listed_clients_credentials_it_is_a_401(
    app: TestClient, headers: dict[str, str]
) -> None:
    token = signup(app)["access_token"]
    refused(introspect(app, token, headers))


def test_with_no_client_configured_every_caller_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client()
    token = signup(app)["access_token"]
    refused(introspect(app, token, basic("orders", SECRET)))
    refused(introspect(app, token, {}))


def test_form_encoded_credentials_are_decoded(make_client: Callable[..., TestClient]) -> None:
    """RFC 6749 2.3.1: a client id and secret with reserved characters are sent
    form-encoded inside the Basic credentials."""
    secret = "with spaces & colons: " + "x" * 32
    app = make_client(introspection_clients=f"svc one:{secret}")
    token = signup(app)["access_token"]

    assert introspect(app, token, basic("svc one", secret)).json()["active"] is True


def test_the_secret_comparison_takes_the_same_time_however_much_is_right(
    app: TestClient,
) -> None:
    """A secret right but for its last character, a wrong secret of another length, and
    an unknown client id cost the same: nothing can be learnt a character at a time.
    The service is timed directly, where microseconds are not drowned by HTTP."""
    service = container_of(app).introspection

    def seconds(client_id: str, secret: str) -> float:
        started = time.perf_counter()
        for _ in range(50):
            with contextlib.suppress(errors.InvalidClient):
                service.authenticate(client_id, secret)
        return time.perf_counter() - started

    attempts = {
        "almost": ("orders", SECRET[:-1] + "?"),
        "short": ("orders", "x"),
        "unknown": ("nobody-at-all", SECRET[:-1] + "?"),
    }
    names = list(attempts)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(300):  # interleaved, in a rotating order: load hits all alike
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            timings[name].append(seconds(*attempts[name]))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"introspection client check, 50 calls: {medians}")
    assert max(medians.values()) / min(medians.values()) < 1.3, medians
