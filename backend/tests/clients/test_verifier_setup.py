"""authapi-verifier's configuration and wiring, without a server: `from_env`, the
settings it refuses, `install` around an app's own lifespan, and no secret in a repr."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from authapi_verifier import Claims, CurrentClaims, Verifier
from fastapi import FastAPI
from fastapi.testclient import TestClient

from support import TEST_SECRET

JWKS_URL = "http://127.0.0.1:9/.well-known/jwks.json"


def test_from_env_reads_every_setting_and_overrides_win() -> None:
    verifier = Verifier.from_env(
        {
            "AUTHAPI_JWKS_URL": JWKS_URL,
            "AUTHAPI_ISSUER": "issuer-x",
            "AUTHAPI_AUDIENCE": "audience-y",
            "AUTHAPI_HS_SECRET": TEST_SECRET,
            "AUTHAPI_HS_ALGORITHM": "HS384",
            "AUTHAPI_INTROSPECTION_URL": "http://127.0.0.1:9/auth/introspect",
            "AUTHAPI_INTROSPECTION_CLIENT_ID": "reports",
            "AUTHAPI_INTROSPECTION_CLIENT_SECRET": "s" * 32,
            "AUTHAPI_LEEWAY_SECONDS": "3",
        },
        audience="audience-z",
    )
    assert verifier.issuer == "issuer-x"
    assert verifier.audience == "audience-z"
    assert verifier.leeway_seconds == 3
    assert "introspect" in repr(verifier)
    assert TEST_SECRET not in repr(verifier)
    assert "s" * 32 not in repr(verifier)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "jwks_url"),
        ({"AUTHAPI_HS_SECRET": "short"}, "32 bytes"),
        ({"AUTHAPI_HS_SECRET": TEST_SECRET, "AUTHAPI_HS_ALGORITHM": "RS256"}, "hs_algorithm"),
        (
            {"AUTHAPI_JWKS_URL": JWKS_URL, "AUTHAPI_INTROSPECTION_URL": "http://x/i"},
            "client id and client secret",
        ),
        ({"AUTHAPI_JWKS_URL": JWKS_URL, "AUTHAPI_JWKS_CACHE_SECONDS": "soon"}, "CACHE_SECONDS"),
    ],
)
def test_unusable_settings_are_refused_at_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Verifier.from_env(environ)
    assert TEST_SECRET not in str(raised.value)


def test_install_keeps_the_apps_own_lifespan_and_closes_the_client_after_it() -> None:
    events: list[str] = []

    class Recording(Verifier):
        async def aclose(self) -> None:
            events.append("verifier closed")
            await super().aclose()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("app started")
        yield
        events.append("app stopped")

    app = FastAPI(lifespan=lifespan)
    verifier = Recording(jwks_url=JWKS_URL).install(app)

    @app.get("/hello")
    async def hello(claims: CurrentClaims) -> dict[str, str]:
        return {"sub": claims.sub}

    with TestClient(app) as client:
        assert app.state.authapi_verifier is verifier
        assert client.get("/hello").json()["code"] == "token_missing"
        assert events == ["app started"]
    assert events == ["app started", "app stopped", "verifier closed"]
    # The scheme is in the app's OpenAPI document, for its /docs.
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An authapi access token.",
    }


def test_an_app_without_install_fails_loudly_not_open() -> None:
    app = FastAPI()

    @app.get("/hello")
    async def hello(claims: CurrentClaims) -> dict[str, str]:
        return {"sub": claims.sub}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/hello", headers={"Authorization": "Bearer x"}).status_code == 500


def test_claims_are_frozen() -> None:
    claims = Claims.from_payload(
        {"sub": "u", "sid": "s", "exp": 2, "iat": 1, "iss": "i", "aud": ["a", "b"], "role": "x"}
    )
    assert claims.aud == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        claims.role = "admin"  # type: ignore[misc]
    with pytest.raises(TypeError):
        claims.raw["role"] = "admin"  # type: ignore[index]
