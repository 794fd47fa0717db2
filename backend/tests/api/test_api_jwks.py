"""GET /.well-known/jwks.json, the `kid` of issued tokens, rotation through
JWT_PREVIOUS_KEYS over the API, and `python -m authapi check-config` refusing key
settings it cannot use without echoing a key or a secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from fastapi.testclient import TestClient

import authapi
from api.api_helpers import assert_problem, token_claims
from authapi.config import Settings
from authapi.keys import KeyConfigError, generate_pem, read_pem_key
from support import TEST_MFA_KEY, TEST_SECRET, bearer, signup

MakeClient = Callable[..., TestClient]
EC_MEMBERS = {"kty", "crv", "x", "y", "kid", "alg", "use"}
RSA_MEMBERS = {"kty", "n", "e", "kid", "alg", "use"}
RETIRED_SECRET = "retired-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def key_file(tmp_path: Path, algorithm: str, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(generate_pem(algorithm))
    return path


def public_key_file(tmp_path: Path, private: Path, name: str) -> Path:
    """The public half only, as an operator keeps it for a retired key."""
    path = tmp_path / name
    path.write_text(read_pem_key(private, "test").verify_with)
    return path


def kid_of_file(path: Path) -> str:
    return read_pem_key(path, "test").kid


def jwks(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    cache_control = [part.strip() for part in response.headers["Cache-Control"].split(",")]
    assert "public" in cache_control
    assert any(part.startswith("max-age=") for part in cache_control)
    body = response.json()
    assert set(body) == {"keys"}
    keys: list[dict[str, Any]] = body["keys"]
    return keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], secret: bytes, header: dict[str, str]) -> str:
    """An HS256 token signed with any bytes at all (PyJWT and jose refuse PEM secrets)."""
    head = {"alg": "HS256", "typ": "JWT", **header}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


# -- the published keys ----------------------------------------------------------------


def test_es256_jwks_publishes_the_public_key_only(make_client: MakeClient, tmp_path: Path) -> None:
    private = key_file(tmp_path, "ES256", "es.pem")
    client = make_client(jwt_algorithm="ES256", jwt_private_key_file=private)

    [key] = jwks(client)

    assert set(key) == EC_MEMBERS, key  # in particular no private `d`
    assert key["kty"] == "EC"
    assert key["crv"] == "P-256"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert key["kid"] == kid_of_file(private)
    # The members are the key's: PyJWT rebuilds a public key from them.
    assert pyjwt.PyJWK(key).key_type == "EC"


def test_rs256_jwks_publishes_the_public_key_only(make_client: MakeClient, tmp_path: Path) -> None:
    private = key_file(tmp_path, "RS256", "rs.pem")
    client = make_client(jwt_algorithm="RS256", jwt_private_key_file=private)

    [key] = jwks(client)

    assert set(key) == RSA_MEMBERS, key  # no d, p, q, dp, dq, qi
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["e"] == "AQAB"
    assert key["kid"] == kid_of_file(private)
    assert pyjwt.PyJWK(key).key_type == "RSA"


def test_jwks_lists_the_current_and_the_retired_public_keys(
    make_client: MakeClient, tmp_path: Path
) -> None:
    current = key_file(tmp_path, "ES256", "current.pem")
    retired_pair = key_file(tmp_path, "RS256", "retired-pair.pem")
    retired_public = public_key_file(
        tmp_path, key_file(tmp_path, "ES256", "older.pem"), "older-public.pem"
    )
    client = make_client(
        jwt_algorithm="ES256",
        jwt_private_key_file=current,
        # A retired HS secret (from before the switch to ES256) has nothing public.
        jwt_previous_keys=f"{retired_pair},{retired_public},{RETIRED_SECRET}",
    )

    keys = jwks(client)

    assert [key["kid"] for key in keys] == [
        kid_of_file(current),
        kid_of_file(retired_pair),
        kid_of_file(retired_public),
    ]
    assert [key["alg"] for key in keys] == ["ES256", "RS256", "ES256"]
    assert all(key["use"] == "sig" for key in keys)
    assert RETIRED_SECRET not in client.get("/.well-known/jwks.json").text


def test_hs256_has_no_jwks(make_client: MakeClient) -> None:
    client = make_client()  # HS256 with JWT_SECRET, the default
    response = client.get("/.well-known/jwks.json")
    assert_problem(response, 404, "not_found")
    assert TEST_SECRET not in response.text


# -- issued tokens -----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_issued_tokens_name_the_published_key_and_verify_with_it(
    make_client: MakeClient, tmp_path: Path, algorithm: str
) -> None:
    private = key_file(tmp_path, algorithm, "signing.pem")
    client = make_client(jwt_algorithm=algorithm, jwt_private_key_file=private)
    [published] = jwks(client)

    token = signup(client)["access_token"]

    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["kid"] == published["kid"]
    # Any standard library verifies it with the published key alone, no secret.
    claims = pyjwt.decode(
        token,
        pyjwt.PyJWK(published),
        algorithms=[algorithm],
        issuer="authapi",
        audience="authapi",
        options={"require": ["exp", "iat", "sub", "sid", "jti"]},
    )
    assert claims["sub"] == client.get("/auth/me", headers=bearer(token)).json()["id"]


def test_rotation_keeps_old_tokens_valid_until_their_key_is_dropped(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Three deployments on one database: old key; new key with the old one retired;
    new key only."""
    old, new = key_file(tmp_path, "ES256", "old.pem"), key_file(tmp_path, "ES256", "new.pem")
    before = make_client(jwt_algorithm="ES256", jwt_private_key_file=old)
    old_token = signup(before)["access_token"]

    during = make_client(
        jwt_algorithm="ES256", jwt_private_key_file=new, jwt_previous_keys=str(old)
    )
    assert during.get("/auth/me", headers=bearer(old_token)).status_code == 200
    new_token = signup(during)["access_token"]
    assert pyjwt.get_unverified_header(new_token)["kid"] == kid_of_file(new)
    assert {key["kid"] for key in jwks(during)} == {kid_of_file(old), kid_of_file(new)}

    after = make_client(jwt_algorithm="ES256", jwt_private_key_file=new)
    assert [key["kid"] for key in jwks(after)] == [kid_of_file(new)]
    assert_problem(after.get("/auth/me", headers=bearer(old_token)), 401, "token_invalid")
    assert after.get("/auth/me", headers=bearer(new_token)).status_code == 200


def test_hs256_signed_with_the_published_key_is_refused(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Algorithm confusion: the public key as an HMAC secret, under the real kid or
    none. The retired HS secret makes the app look at HS tokens at all."""
    private = key_file(tmp_path, "ES256", "signing.pem")
    client = make_client(
        jwt_algorithm="ES256", jwt_private_key_file=private, jwt_previous_keys=RETIRED_SECRET
    )
    claims = token_claims(signup(client)["access_token"])
    public_pem = public_key_file(tmp_path, private, "public.pem").read_bytes()

    for header in ({"kid": kid_of_file(private)}, {}):
        forged = hs256(claims, public_pem, header)
        assert_problem(client.get("/auth/me", headers=bearer(forged)), 401, "token_invalid")
    # The retired secret itself still verifies (an HS token from before the switch).
    genuine = hs256(claims, RETIRED_SECRET.encode(), {})
    assert client.get("/auth/me", headers=bearer(genuine)).status_code == 200


def test_a_retired_key_file_not_named_pem_is_not_an_hmac_secret(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """`old-signing.key` holds the retired ES256 key pair. Whatever authapi makes of
    the name, it must not be an HMAC secret equal to the (guessable) path: either the
    file is read as a key, or the setting is refused."""
    old = key_file(tmp_path, "ES256", "old-signing.key")
    new = key_file(tmp_path, "ES256", "new.pem")
    before = make_client(jwt_algorithm="ES256", jwt_private_key_file=old)
    old_token = signup(before)["access_token"]
    refused: str | None = None
    try:
        during = make_client(
            jwt_algorithm="ES256", jwt_private_key_file=new, jwt_previous_keys=str(old)
        )
    except KeyConfigError as exc:
        refused = str(exc)
    if refused is not None:  # refusing the setting is a fix too
        assert "JWT_PREVIOUS_KEYS" in refused
        return
    forged = hs256(token_claims(old_token), str(old).encode(), {})
    assert during.get("/auth/me", headers=bearer(forged)).status_code == 401
    assert during.get("/auth/me", headers=bearer(old_token)).status_code == 200


def test_a_pasted_public_key_in_previous_keys_never_makes_a_500(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Operators paste keys into environment variables. A PEM's text in
    JWT_PREVIOUS_KEYS must be refused at start-up or be harmless, never a 500."""
    private = key_file(tmp_path, "ES256", "signing.pem")
    old_public = public_key_file(tmp_path, key_file(tmp_path, "ES256", "old.pem"), "old.pub")
    refused: str | None = None
    try:
        client = make_client(
            jwt_algorithm="ES256",
            jwt_private_key_file=private,
            jwt_previous_keys=old_public.read_text(),
        )
    except KeyConfigError as exc:
        refused = str(exc)
    if refused is not None:  # refusing the setting is a fix too
        assert "JWT_PREVIOUS_KEYS" in refused
        return
    claims = token_claims(signup(client)["access_token"])
    forged = hs256(claims, b"anything at all, 32 bytes or more", {})
    assert_problem(client.get("/auth/me", headers=bearer(forged)), 401, "token_invalid")


# -- check-config ------------------------------------------------------------------------


def check_config(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m authapi check-config` in an empty folder (no .env), configured only
    by `settings`: the caller's authapi settings are stripped, as servers.py does."""
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        # The child must import the authapi under test, wherever the folder is.
        "PYTHONPATH": str(Path(authapi.__file__).resolve().parents[1]),
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'authapi.db'}",
        **settings,
    }
    workdir = tmp_path / "run"
    workdir.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "authapi", "check-config"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], setting: str, *hidden: str) -> None:
    assert result.returncode != 0, result.stdout
    assert setting in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for text in (*hidden, TEST_SECRET):
        assert text not in result.stderr
        assert text not in result.stdout


def pem_body_lines(path: Path) -> list[str]:
    """The base64 lines of a PEM: none of them may appear in an error."""
    return [line for line in path.read_text().splitlines() if not line.startswith("-----")]


def test_check_config_accepts_a_good_key(tmp_path: Path) -> None:
    private = key_file(tmp_path, "ES256", "signing.pem")
    retired = key_file(tmp_path, "RS256", "retired.pem")
    result = check_config(
        tmp_path,
        JWT_ALGORITHM="ES256",
        JWT_PRIVATE_KEY_FILE=str(private),
        JWT_PREVIOUS_KEYS=f"{retired},{RETIRED_SECRET}",
    )
    assert result.returncode == 0, result.stderr
    assert "configuration ok" in result.stdout


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_check_config_refuses_an_unreadable_key_file(tmp_path: Path, kind: str) -> None:
    # (Tests may run as root, who reads a file whatever its mode: a missing file and a
    # directory are what cannot be read by anyone.)
    path = tmp_path / "absent.pem"
    if kind == "directory":
        path.mkdir()
    result = check_config(tmp_path, JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(path))
    assert_refused(result, "JWT_PRIVATE_KEY_FILE")
    assert "cannot read the key file" in result.stderr


def test_check_config_refuses_a_garbage_key_file_without_echoing_it(tmp_path: Path) -> None:
    garbage = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWdhcmJhZ2UtdGhhdC1tdXN0LW5vdC1sZWFr\n"
    path = tmp_path / "garbage.pem"
    path.write_text(garbage + "-----END PRIVATE KEY-----\n")
    result = check_config(tmp_path, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=str(path))
    assert_refused(result, "JWT_PRIVATE_KEY_FILE", "c2VjcmV0LWdhcmJhZ2UtdGhhdC1tdXN0LW5vdC1sZWFr")


def test_check_config_refuses_a_key_of_the_wrong_algorithm(tmp_path: Path) -> None:
    rsa_key = key_file(tmp_path, "RS256", "rsa.pem")
    result = check_config(tmp_path, JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(rsa_key))
    assert_refused(result, "JWT_PRIVATE_KEY_FILE", *pem_body_lines(rsa_key))
    assert "RS256" in result.stderr


def test_check_config_refuses_a_public_key_as_the_signing_key(tmp_path: Path) -> None:
    public = public_key_file(tmp_path, key_file(tmp_path, "ES256", "pair.pem"), "public.pem")
    result = check_config(tmp_path, JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(public))
    assert_refused(result, "JWT_PRIVATE_KEY_FILE", *pem_body_lines(public))


def test_check_config_refuses_an_asymmetric_algorithm_without_a_key_file(tmp_path: Path) -> None:
    assert_refused(check_config(tmp_path, JWT_ALGORITHM="ES256"), "JWT_PRIVATE_KEY_FILE")


def test_check_config_refuses_a_short_retired_secret_without_echoing_it(tmp_path: Path) -> None:
    result = check_config(tmp_path, JWT_PREVIOUS_KEYS=f"{RETIRED_SECRET},short-old-secret")
    assert_refused(result, "JWT_PREVIOUS_KEYS", "short-old-secret", RETIRED_SECRET)
    assert "entry 2" in result.stderr


def test_check_config_refuses_a_garbage_retired_key_file(tmp_path: Path) -> None:
    private = key_file(tmp_path, "ES256", "signing.pem")
    garbage = tmp_path / "retired.pem"
    garbage.write_text("not-a-key-but-a-secret-looking-string-0123456789")
    result = check_config(
        tmp_path,
        JWT_ALGORITHM="ES256",
        JWT_PRIVATE_KEY_FILE=str(private),
        JWT_PREVIOUS_KEYS=str(garbage),
    )
    assert_refused(
        result,
        "JWT_PREVIOUS_KEYS",
        "not-a-key-but-a-secret-looking-string-0123456789",
        *pem_body_lines(private),
    )


def test_expiry_is_checked_for_es256_tokens(make_client: MakeClient, tmp_path: Path) -> None:
    """A token signed with the right key and kid but past `exp` is `token_expired`."""
    private = key_file(tmp_path, "ES256", "signing.pem")
    client = make_client(jwt_algorithm="ES256", jwt_private_key_file=private)
    claims = token_claims(signup(client)["access_token"])
    now = int(time.time())
    expired = pyjwt.encode(
        {**claims, "iat": now - 7200, "exp": now - 3600},
        private.read_bytes(),
        algorithm="ES256",
        headers={"kid": kid_of_file(private)},
    )
    assert_problem(client.get("/auth/me", headers=bearer(expired)), 401, "token_expired")
