"""examples/resource_server, a second real service built on the authapi-verifier package
(clients/python), trusts authapi's access tokens by verifying them offline against
authapi's JWKS, across a key rotation.

authapi (ES256) and the resource server run as real processes, spoken to over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

import authapi
from authapi.config import Settings
from authapi.keys import generate_pem
from servers import authapi_server, free_port, stop, wait_for
from support import PROJECT_ROOT, STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow

EXAMPLE = PROJECT_ROOT / "examples" / "resource_server"


@pytest.fixture(autouse=True)
def _children_import_this_authapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers are child processes in other folders: a relative PYTHONPATH (as in
    `PYTHONPATH=backend/src pytest`) would not reach them, and they would import
    whatever authapi the interpreter has installed instead of the one under test."""
    monkeypatch.setenv("PYTHONPATH", str(Path(authapi.__file__).resolve().parents[1]))


@contextmanager
def resource_server(jwks_url: str, workdir: Path) -> Iterator[str]:
    """`uvicorn app:app` in the example's folder; yields its base URL."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "AUTHAPI_JWKS_URL": jwks_url,
        # The verifier refetches the set on an unknown `kid` at most once per cooldown
        # (5 s by default). A rotation in this test follows the first fetch within
        # seconds, so no cooldown here: the refetch itself is what is under test.
        "AUTHAPI_JWKS_REFETCH_COOLDOWN_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = workdir / f"resource-server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "app:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            cwd=EXAMPLE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"resource server exited:\n{log_path.read_text()[-4000:]}")
        return httpx.get(f"{base_url}/hello", timeout=2).status_code == 401

    try:
        wait_for(up, 20, "the resource server")
        yield base_url
    finally:
        stop(process)


def new_key(workdir: Path) -> Path:
    """`python -m authapi keys generate`, as an operator would run it."""
    path = workdir / f"signing-{uuid.uuid4().hex[:8]}.pem"
    subprocess.run(
        [
            *(sys.executable, "-m", "authapi", "keys", "generate"),
            *("--algorithm", "ES256", "--out", str(path)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def hello(resource_url: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{resource_url}/hello", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def kids(authapi_url: str) -> set[str]:
    response = httpx.get(f"{authapi_url}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200, response.text
    return {key["kid"] for key in response.json()["keys"]}


def login(authapi_url: str, email: str) -> str:
    response = httpx.post(
        f"{authapi_url}/auth/login",
        json={"email": email, "password": STRONG_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def me(authapi_url: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{authapi_url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def sign(claims: dict[str, Any], private_pem: bytes, kid: str) -> str:
    return jwt.encode(claims, private_pem, algorithm="ES256", headers={"kid": kid})


def test_resource_server_verifies_tokens_and_follows_a_key_rotation(tmp_path: Path) -> None:
    old_key = new_key(tmp_path)
    new_key_file = tmp_path / "signing-new.pem"
    new_key_file.write_bytes(generate_pem("ES256"))
    port = free_port()
    settings = {
        "JWT_ALGORITHM": "ES256",
        "RATE_LIMIT_AUTH": "1000/minute",
        # Short-lived access tokens, as the example's README advises.
        "ACCESS_TOKEN_TTL_SECONDS": "900",
    }
    jwks_url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    email = unique_email("resource")

    with resource_server(jwks_url, tmp_path) as resource:
        # -- 1. authapi signs with the old key ------------------------------------
        with authapi_server(
            tmp_path, port=port, JWT_PRIVATE_KEY_FILE=str(old_key), **settings
        ) as api:
            signup = httpx.post(
                f"{api}/auth/signup",
                json={"email": email, "password": STRONG_PASSWORD},
                timeout=10,
            )
            assert signup.status_code == 201, signup.text
            old_token = signup.json()["access_token"]
            old_kid = kid_of(old_token)
            assert kids(api) == {old_kid}

            accepted = hello(resource, old_token)
            assert accepted.status_code == 200, accepted.text
            claims = jwt.decode(old_token, options={"verify_signature": False})
            assert accepted.json() == {
                "user_id": signup.json()["user"]["id"],
                "session_id": claims["sid"],
            }
            refuse_forgeries(resource, claims, old_key.read_bytes(), old_token)
            # The example's admin route wants the admin role; a new account has not.
            not_admin = httpx.get(
                f"{resource}/admin", headers={"Authorization": f"Bearer {old_token}"}, timeout=10
            )
            assert not_admin.status_code == 403, not_admin.text
            assert not_admin.json()["code"] == "forbidden"

        # authapi is down: the cached key set still verifies, offline; a kid that is
        # not cached cannot be looked up, which is not the client's fault (503).
        assert hello(resource, old_token).status_code == 200
        unknown = sign(claims, generate_pem("ES256"), "a-kid-nobody-has-seen")
        unavailable = hello(resource, unknown)
        assert unavailable.status_code == 503, unavailable.text
        assert unavailable.json()["code"] == "jwks_unavailable"

        # -- 2. rotation: authapi restarts on the same port and database with a new
        # key, the old one retired but still verifying; the resource server keeps
        # running with the key set it has cached -----------------------------------
        with authapi_server(
            tmp_path,
            port=port,
            JWT_PRIVATE_KEY_FILE=str(new_key_file),
            JWT_PREVIOUS_KEYS=str(old_key),
            **settings,
        ) as api:
            new_token = login(api, email)
            new_kid = kid_of(new_token)
            assert new_kid != old_kid
            assert kids(api) == {old_kid, new_kid}

            # The new kid is not in the resource server's cache: it refetches the set.
            assert hello(resource, new_token).status_code == 200
            assert hello(resource, old_token).status_code == 200
            assert me(api, old_token).status_code == 200
            assert me(api, new_token).status_code == 200

        # -- 3. the old key is dropped --------------------------------------------
        with authapi_server(
            tmp_path, port=port, JWT_PRIVATE_KEY_FILE=str(new_key_file), **settings
        ) as api:
            assert kids(api) == {new_kid}
            refused = me(api, old_token)
            assert refused.status_code == 401, refused.text
            assert refused.json()["code"] == "token_invalid"
            assert me(api, new_token).status_code == 200
            assert hello(resource, new_token).status_code == 200

            # The running resource server still holds the key set it fetched during the
            # rotation (cached for 5 minutes; the old kid is in it, so nothing makes it
            # refetch): it still accepts the old, unexpired token. Offline verifiers
            # learn of a dropped key only when their cache runs out, which is why a
            # key is dropped only after the tokens it signed have expired.
            assert hello(resource, old_token).status_code == 200

            # A verifier with a fresh cache (a new process) refuses it.
            with resource_server(jwks_url, tmp_path) as fresh:
                assert hello(fresh, new_token).status_code == 200
                assert_refused(hello(fresh, old_token), "token_invalid")

            # Nor can an offline verifier see a logout: authapi refuses the revoked
            # token at once, the resource server until its `exp` (see the README).
            logout = httpx.post(
                f"{api}/auth/logout", headers={"Authorization": f"Bearer {new_token}"}
            )
            assert logout.status_code == 204, logout.text
            assert me(api, new_token).json()["code"] == "token_revoked"
            assert hello(resource, new_token).status_code == 200


def refuse_forgeries(
    resource: str, claims: dict[str, Any], private_pem: bytes, genuine: str
) -> None:
    """Everything but the genuine token is refused, with the right code."""
    kid = kid_of(genuine)
    missing = httpx.get(f"{resource}/hello", timeout=10)
    assert missing.status_code == 401, missing.text
    assert missing.json()["code"] == "token_missing"
    assert missing.headers["WWW-Authenticate"] == "Bearer"

    # One character of the payload changed: the signature no longer matches.
    head, payload, signature = genuine.split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    assert_refused(hello(resource, f"{head}.{flipped}.{signature}"), "token_invalid")

    # Signed with authapi's own key and kid, but expired: refused as expired.
    now = int(time.time())
    expired = {**claims, "iat": now - 7200, "exp": now - 3600}
    assert_refused(hello(resource, sign(expired, private_pem, kid)), "token_expired")

    # Signed with authapi's key, but for another audience or from another issuer, or
    # without the session id.
    for wrong in ({"aud": "someone-else"}, {"iss": "not-authapi"}):
        assert_refused(
            hello(resource, sign({**claims, **wrong}, private_pem, kid)), "token_invalid"
        )
    no_sid = {name: value for name, value in claims.items() if name != "sid"}
    assert_refused(hello(resource, sign(no_sid, private_pem, kid)), "token_invalid")

    # Signed by a key authapi does not publish: under its own kid (unknown even after
    # the refetch it causes) and under authapi's kid (the signature does not verify).
    stranger = generate_pem("ES256")
    assert_refused(hello(resource, sign(claims, stranger, "not-a-known-kid")), "token_invalid")
    assert_refused(hello(resource, sign(claims, stranger, kid)), "token_invalid")

    # HS256 "signed" with the published public key under authapi's kid, and `none`.
    public_pem = (
        serialization.load_pem_private_key(private_pem, password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = (
        f"{b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}.{payload}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(hello(resource, f"{signing_input}.{b64url(mac)}"), "token_invalid")
    unsigned = f"{b64url(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}."
    assert_refused(hello(resource, unsigned), "token_invalid")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
