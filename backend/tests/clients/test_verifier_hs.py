"""authapi-verifier with the shared secret, against a real authapi on HS256 (its
default): authapi's tokens pass, the `kid` is the one authapi computes, and nothing
else passes (another secret, another HS algorithm, a key of the wrong kind)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from authapi_verifier import Verifier, hs_kid

from authapi.keys import hs_key
from clients.verifier_support import (
    Authapi,
    bearer,
    expired,
    resource_server,
    sign_hs256,
    unverified,
)
from servers import authapi_server
from support import TEST_SECRET

pytestmark = pytest.mark.slow

OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopqrstu"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authapi]:
    workdir = tmp_path_factory.mktemp("verifier-hs256")
    settings = {"RATE_LIMIT_AUTH": "1000/minute"}
    with authapi_server(workdir, None, **settings) as url:  # JWT_SECRET=TEST_SECRET, HS256
        yield Authapi(url, workdir, settings)


def test_authapis_hs256_tokens_pass_with_the_shared_secret(api: Authapi) -> None:
    signed_up = api.signup()
    token = signed_up["access_token"]
    header, claims = unverified(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == hs_kid(TEST_SECRET) == hs_key(TEST_SECRET, "HS256").kid

    verifier = Verifier.from_env({"AUTHAPI_HS_SECRET": TEST_SECRET})
    with resource_server(verifier) as client:
        response = client.get("/hello", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json()["sub"] == signed_up["user"]["id"]
        assert response.json()["sid"] == claims["sid"]

        # authapi's tokens from before `kid`: signed with the secret, no kid.
        legacy = sign_hs256(claims, TEST_SECRET.encode(), {})
        assert client.get("/hello", headers=bearer(legacy)).status_code == 200

        expired_token = sign_hs256(expired(claims), TEST_SECRET.encode(), {"kid": header["kid"]})
        response = client.get("/hello", headers=bearer(expired_token))
        assert response.json()["code"] == "token_expired"
        for forged in (
            sign_hs256(claims, OTHER_SECRET.encode(), {"kid": header["kid"]}),
            sign_hs256(claims, OTHER_SECRET.encode(), {}),
            sign_hs256({**claims, "aud": "elsewhere"}, TEST_SECRET.encode(), {}),
        ):
            response = client.get("/hello", headers=bearer(forged))
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "token_invalid"


def test_another_secret_or_another_hs_algorithm_refuses_them(api: Authapi) -> None:
    token = api.signup()["access_token"]
    for verifier in (
        Verifier(hs_secret=OTHER_SECRET),
        # The algorithm is the configuration's, so an HS256 token fails an HS512 verifier.
        Verifier(hs_secret=TEST_SECRET, hs_algorithm="HS512"),
    ):
        with resource_server(verifier) as client:
            response = client.get("/hello", headers=bearer(token))
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "token_invalid"


def test_a_retired_secret_still_verifies_its_tokens(api: Authapi) -> None:
    """authapi rotated from TEST_SECRET to OTHER_SECRET, keeping the old one in
    JWT_PREVIOUS_KEYS: the verifier does the same with `hs_previous_secrets`."""
    token = api.signup()["access_token"]
    verifier = Verifier(hs_secret=OTHER_SECRET, hs_previous_secrets=[TEST_SECRET])
    with resource_server(verifier) as client:
        assert client.get("/hello", headers=bearer(token)).status_code == 200


def test_with_hs_only_a_token_of_another_kid_is_refused_without_a_fetch(api: Authapi) -> None:
    token = api.signup()["access_token"]
    _, claims = unverified(token)
    with resource_server(Verifier(hs_secret=TEST_SECRET)) as client:
        forged = sign_hs256(claims, TEST_SECRET.encode(), {"kid": "some-public-key"})
        response = client.get("/hello", headers=bearer(forged))
        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"
