"""Helpers for the authapi-verifier tests: a real authapi spoken to over HTTP, its
CLI run with the server's own settings, a resource server app built on the package,
and tokens signed by hand for the forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from authapi_verifier import CurrentClaims, Verifier, require_role
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

import authapi
from authapi.config import Settings
from support import STRONG_PASSWORD, TEST_MFA_KEY, TEST_SECRET, unique_email

CLIENT_ID = "reports"
CLIENT_SECRET = "reports-secret-0123456789-abcdefghijklmnop"


@dataclass(frozen=True)
class Authapi:
    """A running authapi: its URL, and what its CLI needs to reach the same database."""

    url: str
    workdir: Path
    settings: dict[str, str]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/auth/introspect"

    def cli(self, *args: str) -> None:
        """`python -m authapi ...` in the server's folder with the server's settings."""
        env = {
            **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
            "JWT_SECRET": TEST_SECRET,
            "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
            "DATABASE_URL": f"sqlite:///{self.workdir / 'authapi.db'}",
            "PYTHONPATH": str(Path(authapi.__file__).resolve().parents[1]),
            **self.settings,
        }
        done = subprocess.run(
            [sys.executable, "-m", "authapi", *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]

    def signup(self, email: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/auth/signup",
            json={"email": email or unique_email("verifier"), "password": STRONG_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def login(self, email: str) -> str:
        response = httpx.post(
            f"{self.url}/auth/login",
            json={"email": email, "password": STRONG_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def logout(self, token: str) -> None:
        response = httpx.post(f"{self.url}/auth/logout", headers=bearer(token), timeout=10)
        assert response.status_code == 204, response.text

    def make_admin(self) -> tuple[str, dict[str, Any]]:
        """A new admin's token (signed after the promotion, so its claim says admin)."""
        user = self.signup()["user"]
        self.cli("users", "set-role", user["email"], "admin")
        return self.login(user["email"]), user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def resource_app(verifier: Verifier) -> FastAPI:
    """The shape of the docs' quick start, answering every field of the claims."""
    app = FastAPI()
    verifier.install(app)

    @app.get("/hello")
    async def hello(claims: CurrentClaims) -> dict[str, Any]:
        return {
            "sub": claims.sub,
            "sid": claims.sid,
            "role": claims.role,
            "impersonator": claims.impersonator,
            "introspected": claims.introspected,
            "iss": claims.iss,
            "aud": claims.aud,
            "exp": claims.exp,
            "iat": claims.iat,
        }

    @app.get("/admin", dependencies=[Depends(require_role("admin"))])
    async def admin() -> dict[str, bool]:
        return {"admin": True}

    return app


@contextmanager
def resource_server(verifier: Verifier) -> Iterator[TestClient]:
    """The resource app in this process (its lifespan run), its verifier calling the
    real authapi over HTTP."""
    with TestClient(resource_app(verifier), raise_server_exceptions=False) as client:
        yield client


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a token, read without checking anything."""
    head, payload, _ = token.split(".")
    return json.loads(b64decode(head)), json.loads(b64decode(payload))


def sign_es256(claims: dict[str, Any], private_pem: bytes, kid: str) -> str:
    key = ECKey.import_key(private_pem)
    return jwt.encode({"alg": "ES256", "kid": kid}, claims, key, algorithms=["ES256"])


def sign_hs256(claims: dict[str, Any], secret: bytes, header: dict[str, Any]) -> str:
    """HS256 with any bytes as the secret (joserfc rightly refuses a PEM as one)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', **header}).encode())}"
    signing_input += f".{b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def unsigned(claims: dict[str, Any], kid: str) -> str:
    head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{head}.{b64(json.dumps(claims).encode())}."


def expired(claims: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {**claims, "iat": now - 7200, "exp": now - 3600}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FetchCounter:
    """An httpx event hook: how many requests went to each path (to count the JWKS
    fetches the verifier makes against the real authapi)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)

    def count(self, path: str = "/.well-known/jwks.json") -> int:
        return self.paths.count(path)
