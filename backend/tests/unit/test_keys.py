"""Signing keys: RS256 and ES256 beside HS, `kid` in every token, rotation through
JWT_PREVIOUS_KEYS, the JWK Set, and the forgeries a key set must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jose import jwt

from authapi.__main__ import main
from authapi.keys import KeyConfigError, build_key_set, generate_pem, thumbprint
from authapi.security import TokenConfig, TokenError, decode_access_token, encode_access_token
from support import TEST_SECRET

NOW = datetime.now(UTC)
OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def key_file(tmp_path: Path, algorithm: str, name: str | None = None) -> Path:
    path = tmp_path / (name or f"{algorithm.lower()}-{uuid.uuid4().hex[:6]}.pem")
    path.write_bytes(generate_pem(algorithm))
    return path


def config(
    algorithm: str, private: Path | None = None, previous: list[str] | None = None
) -> TokenConfig:
    return TokenConfig(
        secret=TEST_SECRET,
        algorithm=algorithm,
        issuer="authapi",
        audience="authapi",
        ttl=timedelta(hours=1),
        keys=build_key_set(algorithm, TEST_SECRET, private, previous or []),
    )


def issue(tokens: TokenConfig) -> str:
    token, _claims = encode_access_token(tokens, uuid.uuid4(), uuid.uuid4(), NOW)
    return token


def header(token: str) -> dict[str, str]:
    return dict(jwt.get_unverified_header(token))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_asymmetric_tokens_verify_and_name_their_key(tmp_path: Path, algorithm: str) -> None:
    tokens = config(algorithm, key_file(tmp_path, algorithm))
    token = issue(tokens)

    assert header(token)["alg"] == algorithm
    assert header(token)["kid"] == tokens.keys.current.kid
    assert decode_access_token(tokens, token).expires_at > NOW
    [published] = tokens.keys.jwks()["keys"]
    assert published["kid"] == thumbprint(published)  # RFC 7638: recomputable by anyone
    assert published["use"] == "sig"
    assert published["alg"] == algorithm
    assert "d" not in published  # never the private part


def test_hs_tokens_carry_a_kid_that_does_not_reveal_the_secret() -> None:
    tokens = config("HS256")
    token = issue(tokens)
    assert header(token)["kid"].startswith("hs-")
    assert TEST_SECRET not in header(token)["kid"]
    assert tokens.keys.jwks() == {"keys": []}
    assert decode_access_token(tokens, token)


def test_rotation_keeps_old_tokens_until_their_key_is_dropped(tmp_path: Path) -> None:
    old_key, new_key = key_file(tmp_path, "ES256"), key_file(tmp_path, "ES256")
    before = config("ES256", old_key)
    old_token = issue(before)

    during = config("ES256", new_key, previous=[str(old_key)])
    new_token = issue(during)
    assert header(new_token)["kid"] == during.keys.current.kid != before.keys.current.kid
    assert decode_access_token(during, old_token)  # still valid
    assert decode_access_token(during, new_token)
    assert {key["kid"] for key in during.keys.jwks()["keys"]} == {
        before.keys.current.kid,
        during.keys.current.kid,
    }

    after = config("ES256", new_key)
    with pytest.raises(TokenError):
        decode_access_token(after, old_token)
    assert decode_access_token(after, new_token)


def test_a_retired_public_key_is_enough_to_verify(tmp_path: Path) -> None:
    old_key = key_file(tmp_path, "RS256")
    old_token = issue(config("RS256", old_key))
    public = tmp_path / "old-public.pem"
    public.write_text(config("RS256", old_key).keys.current.verify_with)

    rotated = config("RS256", key_file(tmp_path, "RS256"), previous=[str(public)])
    assert decode_access_token(rotated, old_token)


def test_hs_secret_rotation_and_tokens_from_before_kid(tmp_path: Path) -> None:
    """Tokens issued before `kid` existed still verify with the secret that signed them."""
    payload = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": "x",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "iss": "authapi",
        "aud": "authapi",
    }
    legacy = jwt.encode(payload, TEST_SECRET, algorithm="HS256")  # no kid
    signed_before = issue(config("HS256"))

    rotated = TokenConfig(
        secret=OTHER_SECRET,
        algorithm="HS256",
        issuer="authapi",
        audience="authapi",
        ttl=timedelta(hours=1),
        keys=build_key_set("HS256", OTHER_SECRET, None, [TEST_SECRET]),
    )
    assert decode_access_token(rotated, legacy)
    assert decode_access_token(rotated, signed_before)
    assert header(issue(rotated))["kid"] != header(signed_before)["kid"]


def test_forged_tokens_are_refused(tmp_path: Path) -> None:
    tokens = config("ES256", key_file(tmp_path, "ES256"))
    genuine = issue(tokens)
    _header, payload, _signature = genuine.split(".")
    public_pem = tokens.keys.current.verify_with.encode()

    def forged(head: dict[str, str], key: bytes | None) -> str:
        signing_input = f"{b64url(json.dumps(head).encode())}.{payload}"
        if key is None:
            return signing_input + "."
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    kid = tokens.keys.current.kid
    attempts = {
        # HS256 "signed" with the public key, under the real kid: algorithm confusion.
        "hs-with-public-key": forged({"alg": "HS256", "kid": kid, "typ": "JWT"}, public_pem),
        "alg-none": forged({"alg": "none", "kid": kid, "typ": "JWT"}, None),
        "unknown-kid": forged({"alg": "HS256", "kid": "not-ours", "typ": "JWT"}, b"x" * 32),
        "no-kid-no-hs-key": forged({"alg": "HS256", "typ": "JWT"}, public_pem),
    }
    for token in attempts.values():
        with pytest.raises(TokenError):
            decode_access_token(tokens, token)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the key file"),
        (b"not a key", "not an unencrypted PEM"),
    ],
)
def test_unusable_key_files_are_refused_naming_the_setting(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyConfigError, match=message) as refused:
        build_key_set("ES256", TEST_SECRET, path, [])
    assert "JWT_PRIVATE_KEY_FILE" in str(refused.value)


def test_a_key_of_the_wrong_algorithm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="for RS256, not JWT_ALGORITHM=ES256"):
        build_key_set("ES256", TEST_SECRET, key_file(tmp_path, "RS256"), [])


def test_a_public_key_cannot_be_the_signing_key(tmp_path: Path) -> None:
    public = tmp_path / "public.pem"
    public.write_text(config("ES256", key_file(tmp_path, "ES256")).keys.current.verify_with)
    with pytest.raises(KeyConfigError, match="cannot sign"):
        build_key_set("ES256", TEST_SECRET, public, [])


def test_a_short_retired_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(KeyConfigError) as refused:
        build_key_set("HS256", TEST_SECRET, None, ["short-secret"])
    assert "JWT_PREVIOUS_KEYS (entry 1)" in str(refused.value)
    assert "short-secret" not in str(refused.value)


def test_keys_generate_writes_a_private_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signing.pem"
    main(["keys", "generate", "--algorithm", "ES256", "--out", str(out)])
    assert out.stat().st_mode & 0o777 == 0o600
    assert build_key_set("ES256", TEST_SECRET, out, []).current.algorithm == "ES256"

    with pytest.raises(SystemExit, match="exists"):
        main(["keys", "generate", "--algorithm", "ES256", "--out", str(out)])
