"""authapi-verifier against one real authapi (ES256, with an introspection client):
tokens verified by JWKS, forgeries refused, the problem shape, roles, impersonation,
introspection seeing a logout, failing closed, and the docs' quick start run as written.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authapi_verifier import Verifier
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from authapi.keys import generate_pem
from clients.verifier_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    Authapi,
    bearer,
    expired,
    resource_server,
    sign_es256,
    sign_hs256,
    unsigned,
    unverified,
)
from servers import authapi_server, free_port
from support import PROJECT_ROOT

pytestmark = pytest.mark.slow

DOCS_PAGE = PROJECT_ROOT / "docs" / "python-verifier.md"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authapi]:
    workdir = tmp_path_factory.mktemp("verifier-es256")
    key = workdir / "signing.pem"
    key.write_bytes(generate_pem("ES256"))
    settings = {
        "JWT_ALGORITHM": "ES256",
        "JWT_PRIVATE_KEY_FILE": str(key),
        "RATE_LIMIT_AUTH": "1000/minute",
        "INTROSPECTION_CLIENTS": f"{CLIENT_ID}:{CLIENT_SECRET}",
    }
    with authapi_server(workdir, None, **settings) as url:
        yield Authapi(url, workdir, settings)


@pytest.fixture(scope="module")
def private_pem(api: Authapi) -> bytes:
    return Path(api.settings["JWT_PRIVATE_KEY_FILE"]).read_bytes()


@pytest.fixture
def offline(api: Authapi) -> Iterator[TestClient]:
    """A resource server verifying by JWKS alone."""
    with resource_server(Verifier(jwks_url=api.jwks_url)) as client:
        yield client


@pytest.fixture
def introspecting(api: Authapi) -> Iterator[TestClient]:
    """A resource server that also asks authapi about every token."""
    verifier = Verifier(
        jwks_url=api.jwks_url,
        introspection_url=api.introspection_url,
        introspection_client_id=CLIENT_ID,
        introspection_client_secret=CLIENT_SECRET,
    )
    with resource_server(verifier) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    if status == 401:
        challenge = response.headers["WWW-Authenticate"]
        sent = code != "token_missing"
        assert challenge == ('Bearer error="invalid_token"' if sent else "Bearer")
    else:
        assert "WWW-Authenticate" not in response.headers
    return body


def test_an_es256_token_is_verified_by_jwks_and_its_claims_reach_the_endpoint(
    api: Authapi, offline: TestClient
) -> None:
    signed_up = api.signup()
    token = signed_up["access_token"]
    _, claims = unverified(token)

    response = offline.get("/hello", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": signed_up["user"]["id"],
        "sid": claims["sid"],
        "role": "user",
        "impersonator": None,
        "introspected": False,
        "iss": "authapi",
        "aud": "authapi",
        "exp": claims["exp"],
        "iat": claims["iat"],
    }


def test_forged_expired_and_foreign_tokens_are_refused(
    api: Authapi, offline: TestClient, private_pem: bytes
) -> None:
    token = api.signup()["access_token"]
    header, claims = unverified(token)
    kid = header["kid"]
    stranger = generate_pem("ES256")
    public_pem = ECKey.import_key(private_pem).as_pem(private=False)
    now = int(time.time())
    head, payload, signature = token.split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    without_sid = {name: value for name, value in claims.items() if name != "sid"}

    def hello(value: str) -> httpx.Response:
        response: httpx.Response = offline.get("/hello", headers=bearer(value))
        return response

    # Genuine signatures, claims that are not acceptable.
    assert_problem(hello(sign_es256(expired(claims), private_pem, kid)), 401, "token_expired")
    for wrong in (
        {"iss": "not-authapi"},
        {"aud": "someone-else"},
        {"iat": now + 3600},  # issued in the future, beyond the leeway
        {"sub": 12345},
    ):
        forged = sign_es256({**claims, **wrong}, private_pem, kid)
        assert_problem(hello(forged), 401, "token_invalid")
    assert_problem(hello(sign_es256(without_sid, private_pem, kid)), 401, "token_invalid")

    # Not authapi's signature: tampered, another key under authapi's kid or its own,
    # `alg: none`, HS256 "signed" with the published public key; and an expired
    # forgery is invalid, not expired (the signature is checked first).
    for forged in (
        f"{head}.{flipped}.{signature}",
        sign_es256(claims, stranger, kid),
        sign_es256(claims, stranger, "a-kid-nobody-has"),
        sign_es256(expired(claims), stranger, kid),
        unsigned(claims, kid),
        sign_hs256(claims, public_pem, {"kid": kid}),
        sign_hs256(claims, public_pem, {}),
        "not-a-jwt",
        "a.b.c",
        "x" * 20_000,
    ):
        body = assert_problem(hello(forged), 401, "token_invalid")
        assert forged not in str(body)

    assert hello(token).status_code == 200  # the genuine one still passes


def test_refusals_are_problems_in_authapis_shape(api: Authapi, offline: TestClient) -> None:
    missing = assert_problem(offline.get("/hello"), 401, "token_missing")
    assert missing["title"] == "Unauthorized"
    basic = offline.get("/hello", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(basic, 401, "token_missing")

    # A sane X-Request-ID is kept (so logs of both services line up); another is not.
    traced = offline.get("/hello", headers={**bearer("bad"), "X-Request-ID": "trace-42"})
    assert assert_problem(traced, 401, "token_invalid")["request_id"] == "trace-42"
    odd = offline.get("/hello", headers={**bearer("bad"), "X-Request-ID": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", assert_problem(odd, 401, "token_invalid")["request_id"])

    # authapi's own answer to a bad token has the same members and challenge.
    own = httpx.get(f"{api.url}/auth/me", headers=bearer("bad"), timeout=10)
    assert set(own.json()) == PROBLEM_KEYS
    assert own.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert own.json()["code"] == "token_invalid"


def test_require_role_refuses_a_user_and_admits_an_admin(api: Authapi, offline: TestClient) -> None:
    user_token = api.signup()["access_token"]
    admin_token, _ = api.make_admin()

    refused = assert_problem(offline.get("/admin", headers=bearer(user_token)), 403, "forbidden")
    # The code authapi itself answers a user on an admin route with.
    own = httpx.get(f"{api.url}/admin/users", headers=bearer(user_token), timeout=10)
    assert own.status_code == 403
    assert own.json()["code"] == refused["code"]
    assert own.json()["title"] == refused["title"]

    admitted = offline.get("/admin", headers=bearer(admin_token))
    assert admitted.status_code == 200, admitted.text
    assert admitted.json() == {"admin": True}


def test_a_logged_out_token_passes_offline_but_introspection_refuses_it(
    api: Authapi, offline: TestClient, introspecting: TestClient
) -> None:
    token = api.signup()["access_token"]
    live = introspecting.get("/hello", headers=bearer(token))
    assert live.status_code == 200, live.text
    assert live.json()["introspected"] is True

    api.logout(token)

    # Offline verification cannot see the logout (the signature and exp are fine) ...
    assert offline.get("/hello", headers=bearer(token)).status_code == 200
    # ... introspection does, at once.
    assert_problem(introspecting.get("/hello", headers=bearer(token)), 401, "token_revoked")


def test_with_introspection_the_role_is_the_databases_not_the_tokens(
    api: Authapi, offline: TestClient, introspecting: TestClient
) -> None:
    signed_up = api.signup()
    token = signed_up["access_token"]  # signed with role "user"
    api.cli("users", "set-role", signed_up["user"]["email"], "admin")

    assert_problem(offline.get("/admin", headers=bearer(token)), 403, "forbidden")
    promoted = introspecting.get("/admin", headers=bearer(token))
    assert promoted.status_code == 200, promoted.text
    assert introspecting.get("/hello", headers=bearer(token)).json()["role"] == "admin"

    # And a demotion holds at once, though the new token still says admin.
    admin_token = api.login(signed_up["user"]["email"])
    api.make_admin()  # someone stays admin
    api.cli("users", "set-role", signed_up["user"]["email"], "user")
    assert offline.get("/admin", headers=bearer(admin_token)).status_code == 200
    assert_problem(introspecting.get("/admin", headers=bearer(admin_token)), 403, "forbidden")


def test_an_impersonation_names_the_admin_offline_and_through_introspection(
    api: Authapi, offline: TestClient, introspecting: TestClient
) -> None:
    admin_token, admin = api.make_admin()
    user = api.signup()["user"]
    response = httpx.post(
        f"{api.url}/admin/users/{user['id']}/impersonate", headers=bearer(admin_token), timeout=10
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]

    for client, introspected in ((offline, False), (introspecting, True)):
        claims = client.get("/hello", headers=bearer(token)).json()
        assert claims["sub"] == user["id"]
        assert claims["impersonator"] == admin["id"]
        assert claims["introspected"] is introspected


def test_wrong_introspection_credentials_are_a_503_and_logged_not_the_callers_401(
    api: Authapi, caplog: pytest.LogCaptureFixture
) -> None:
    token = api.signup()["access_token"]
    verifier = Verifier(
        jwks_url=api.jwks_url,
        introspection_url=api.introspection_url,
        introspection_client_id=CLIENT_ID,
        introspection_client_secret="not-the-secret-0123456789-abcdefghijkl",
    )
    # authapi's answer to the verifier, for the record: 401 invalid_client.
    direct = httpx.post(
        api.introspection_url, data={"token": token}, auth=(CLIENT_ID, "wrong"), timeout=10
    )
    assert direct.status_code == 401
    assert direct.json()["code"] == "invalid_client"

    with (
        caplog.at_level(logging.WARNING, logger="authapi_verifier"),
        resource_server(verifier) as client,
    ):
        response = client.get("/hello", headers=bearer(token))

    assert_problem(response, 503, "introspection_unavailable")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("credentials" in record.getMessage() for record in errors), caplog.text
    assert token not in caplog.text


def test_unreachable_authapi_is_a_503_fail_closed(
    api: Authapi, caplog: pytest.LogCaptureFixture
) -> None:
    token = api.signup()["access_token"]
    nowhere = f"http://127.0.0.1:{free_port()}"
    no_introspection = Verifier(
        jwks_url=api.jwks_url,
        introspection_url=f"{nowhere}/auth/introspect",
        introspection_client_id=CLIENT_ID,
        introspection_client_secret=CLIENT_SECRET,
    )
    no_jwks = Verifier(jwks_url=f"{nowhere}/.well-known/jwks.json")

    with caplog.at_level(logging.WARNING, logger="authapi_verifier"):
        with resource_server(no_introspection) as client:
            response = client.get("/hello", headers=bearer(token))
            assert_problem(response, 503, "introspection_unavailable")
        with resource_server(no_jwks) as client:
            assert_problem(client.get("/hello", headers=bearer(token)), 503, "jwks_unavailable")
            # A token that is not even a JWT needs no key: still the caller's 401.
            assert_problem(client.get("/hello", headers=bearer("junk")), 401, "token_invalid")

    assert token not in caplog.text


def quick_start() -> str:
    """The first Python block of the docs page, under its "Quick start" heading."""
    page = DOCS_PAGE.read_text()
    section = page[page.index("## Quick start") :]
    block = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    return block.group(1)


def test_the_docs_quick_start_runs_as_written(api: Authapi) -> None:
    code = quick_start()
    assert len([line for line in code.splitlines() if line.strip()]) == 10
    # The one thing a reader changes: where authapi listens (ours is on a free port).
    assert code.count("http://127.0.0.1:8000") == 1
    namespace: dict[str, Any] = {"__name__": "quick_start"}
    exec(compile(code.replace("http://127.0.0.1:8000", api.url), str(DOCS_PAGE), "exec"), namespace)  # noqa: S102
    signed_up = api.signup()
    token = signed_up["access_token"]
    admin_token, _ = api.make_admin()

    with TestClient(namespace["app"]) as client:
        hello = client.get("/hello", headers=bearer(token))
        assert hello.status_code == 200, hello.text
        assert hello.json() == {
            "user_id": signed_up["user"]["id"],
            "session_id": unverified(token)[1]["sid"],
        }
        assert_problem(client.get("/admin", headers=bearer(token)), 403, "forbidden")
        assert client.get("/admin", headers=bearer(admin_token)).json() == {"admin": True}
        assert_problem(client.get("/hello"), 401, "token_missing")
