"""Password hashing and access tokens (authapi.security): pure functions, no app, no DB."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jose import jwt
from passlib.hash import bcrypt_sha256

from authapi.config import Settings
from authapi.security import (
    PasswordHasher,
    TokenConfig,
    TokenError,
    TokenExpiredError,
    decode_access_token,
    encode_access_token,
)
from support import FAST_ROUNDS, TEST_MFA_KEY, TEST_SECRET

# --- password hashing ---------------------------------------------------------------


@pytest.fixture
def hasher(make_hasher: Callable[[int], PasswordHasher]) -> PasswordHasher:
    return make_hasher(FAST_ROUNDS)


def test_hash_then_verify_accepts_the_same_password(hasher: PasswordHasher) -> None:
    stored = hasher.hash("Correct7Horse!")
    assert stored != "Correct7Horse!"
    assert stored.startswith("$bcrypt-sha256$")
    assert hasher.verify("Correct7Horse!", stored) is True


def test_two_hashes_of_one_password_differ_by_salt(hasher: PasswordHasher) -> None:
    assert hasher.hash("Correct7Horse!") != hasher.hash("Correct7Horse!")


@pytest.mark.parametrize(
    "attempt", ["Correct7Horse", "correct7Horse!", "Correct7Horse! ", "", "Wrong1Password"]
)
def test_verify_rejects_a_wrong_password(hasher: PasswordHasher, attempt: str) -> None:
    stored = hasher.hash("Correct7Horse!")
    assert hasher.verify(attempt, stored) is False


def test_every_character_counts_beyond_bcrypt_72_byte_limit(hasher: PasswordHasher) -> None:
    """Plain bcrypt ignores everything after byte 72; bcrypt_sha256 must not."""
    shared_prefix = "Aa1" + "x" * 77  # 80 bytes, beyond bcrypt's 72
    first = shared_prefix + "A" * 20
    second = shared_prefix + "B" * 20
    assert len(first) == len(second) == 100
    assert first[:72] == second[:72]

    first_hash = hasher.hash(first)
    second_hash = hasher.hash(second)
    assert hasher.verify(first, first_hash) is True
    assert hasher.verify(second, second_hash) is True
    assert hasher.verify(second, first_hash) is False
    assert hasher.verify(first, second_hash) is False


def test_a_compatibility_character_verifies_against_its_nfkc_form(
    hasher: PasswordHasher,
) -> None:
    """The same password typed on a full-width (e.g. Japanese IME) keyboard still works."""
    # "Password7!" in full-width forms (U+FF30 ...), as typed with a Japanese IME.
    full_width = "\uff30\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff17\uff01"
    nfkc_form = "Password7!"

    assert hasher.verify(full_width, hasher.hash(nfkc_form)) is True
    assert hasher.verify(nfkc_form, hasher.hash(full_width)) is True
    # Normalisation is not a loophole: a different password is still refused.
    assert hasher.verify("Password8!", hasher.hash(full_width)) is False


def test_needs_rehash_when_stored_cost_is_below_the_configured_cost(
    make_hasher: Callable[[int], PasswordHasher],
) -> None:
    cheap = make_hasher(FAST_ROUNDS).hash("Correct7Horse!")
    assert bcrypt_sha256.from_string(cheap).rounds == FAST_ROUNDS

    assert make_hasher(FAST_ROUNDS + 1).needs_rehash(cheap) is True
    assert make_hasher(FAST_ROUNDS).needs_rehash(cheap) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not-a-hash",
        "$2b$04$abc",
        "$bcrypt-sha256$v=2,t=2b,r=4$truncated",
        "$bcrypt-sha256$v=2,t=2b,r=4$oC11gi1Os2iRBIrkoRtAo.$mQYX2XDmbE0xb",
        "$bcrypt-sha257$v=2,t=2b,r=4$oC11gi1Os2iRBIrkoRtAo.$mQYX2XDmbE0xbMTFjhikHWkGJvGiqwy",
    ],
)
def test_verify_against_a_malformed_stored_hash_is_false_not_an_error(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify("Correct7Horse!", stored) is False


# --- access tokens ------------------------------------------------------------------

NOW = datetime.now(UTC)


def make_config(**overrides: Any) -> TokenConfig:
    values: dict[str, Any] = {
        "secret": TEST_SECRET,
        "algorithm": "HS256",
        "issuer": "authapi",
        "audience": "authapi",
        "ttl": timedelta(hours=24),
    }
    values.update(overrides)
    return TokenConfig(**values)


@pytest.fixture
def config() -> TokenConfig:
    return make_config()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a token, read without verifying anything."""
    header, payload, _signature = token.split(".")
    pad = "=" * (-len(payload) % 4)
    return (
        json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        json.loads(base64.urlsafe_b64decode(payload + pad)),
    )


def valid_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "iss": "authapi",
        "aud": "authapi",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    """A token signed by a third-party library, to feed the decoder hand-made claims."""
    return str(jwt.encode(claims, secret, algorithm=algorithm))


def test_round_trip_returns_the_user_and_session(config: TokenConfig) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token, issued = encode_access_token(config, user_id, session_id, NOW)

    decoded = decode_access_token(config, token)

    assert decoded.user_id == user_id
    assert decoded.session_id == session_id
    assert decoded == issued


def test_token_carries_every_required_claim(config: TokenConfig) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token, issued = encode_access_token(config, user_id, session_id, NOW)

    header, payload = segments(token)

    assert header["alg"] == "HS256"
    assert set(payload) >= {"sub", "sid", "jti", "iat", "exp", "iss", "aud"}
    assert payload["sub"] == str(user_id)
    assert payload["sid"] == str(session_id)
    assert payload["jti"] == issued.token_id
    assert payload["iss"] == "authapi"
    assert payload["aud"] == "authapi"
    assert payload["iat"] == int(NOW.timestamp())


def test_each_token_has_its_own_jti(config: TokenConfig) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    first, _ = encode_access_token(config, user_id, session_id, NOW)
    second, _ = encode_access_token(config, user_id, session_id, NOW)
    assert segments(first)[1]["jti"] != segments(second)[1]["jti"]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the runner's environment or a developer's .env."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_environment")
def test_default_lifetime_is_24_hours() -> None:
    settings = Settings(_env_file=None, jwt_secret=TEST_SECRET, mfa_encryption_key=TEST_MFA_KEY)
    config = make_config(ttl=timedelta(seconds=settings.access_token_ttl_seconds))

    token, issued = encode_access_token(config, uuid.uuid4(), uuid.uuid4(), NOW)

    payload = segments(token)[1]
    assert payload["exp"] - payload["iat"] == 24 * 3600
    assert issued.expires_at - issued.issued_at == timedelta(hours=24)


def test_expired_token_raises_token_expired(config: TokenConfig) -> None:
    token, _ = encode_access_token(config, uuid.uuid4(), uuid.uuid4(), NOW - timedelta(hours=25))
    with pytest.raises(TokenExpiredError):
        decode_access_token(config, token)


def test_token_expired_one_second_ago_is_refused() -> None:
    config = make_config(ttl=timedelta(seconds=60))
    token, _ = encode_access_token(
        config, uuid.uuid4(), uuid.uuid4(), datetime.now(UTC) - timedelta(seconds=62)
    )
    with pytest.raises(TokenExpiredError):
        decode_access_token(config, token)


def test_token_signed_with_another_secret_is_refused(config: TokenConfig) -> None:
    other = make_config(secret="another-secret-0123456789-abcdefghijklmnop")
    token, _ = encode_access_token(other, uuid.uuid4(), uuid.uuid4(), NOW)
    with pytest.raises(TokenError):
        decode_access_token(config, token)


def test_token_for_another_audience_is_refused(config: TokenConfig) -> None:
    token, _ = encode_access_token(
        make_config(audience="some-other-api"), uuid.uuid4(), uuid.uuid4(), NOW
    )
    with pytest.raises(TokenError):
        decode_access_token(config, token)


def test_token_from_another_issuer_is_refused(config: TokenConfig) -> None:
    token, _ = encode_access_token(
        make_config(issuer="evil-issuer"), uuid.uuid4(), uuid.uuid4(), NOW
    )
    with pytest.raises(TokenError):
        decode_access_token(config, token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_refused(config: TokenConfig, alg: str) -> None:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(valid_claims()).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(TokenError):
            decode_access_token(config, token)


def test_algorithm_is_pinned_hs256_token_refused_when_hs512_expected() -> None:
    token = sign(valid_claims(), algorithm="HS256")
    # Same secret, same claims: only the algorithm differs.
    assert decode_access_token(make_config(), token).token_id
    with pytest.raises(TokenError):
        decode_access_token(make_config(algorithm="HS512"), token)


def test_rs256_header_with_hmac_signature_is_refused(config: TokenConfig) -> None:
    """Algorithm confusion: an RS256 header whose signature is an HMAC with the secret."""
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(valid_claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(TEST_SECRET.encode(), signing_input, hashlib.sha256).digest())
    with pytest.raises(TokenError):
        decode_access_token(config, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("missing", ["exp", "jti", "sid", "sub", "iat", "iss", "aud"])
def test_token_missing_a_required_claim_is_refused(config: TokenConfig, missing: str) -> None:
    token = sign(valid_claims(**{missing: None}))
    with pytest.raises(TokenError):
        decode_access_token(config, token)


@pytest.mark.parametrize("bad_sub", ["42", "alice@example.com", "not-a-uuid", ""])
def test_token_with_a_non_uuid_subject_is_refused(config: TokenConfig, bad_sub: str) -> None:
    with pytest.raises(TokenError):
        decode_access_token(config, sign(valid_claims(sub=bad_sub)))


def test_token_with_a_non_uuid_session_id_is_refused(config: TokenConfig) -> None:
    with pytest.raises(TokenError):
        decode_access_token(config, sign(valid_claims(sid="session-1")))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("number", ["1e999", "-1e999", "1e300"])
def test_a_time_claim_no_int_can_hold_is_refused(
    config: TokenConfig, claim: str, number: str
) -> None:
    """Finding 13: `1e999` parses to infinity and python-jose's own checks call int()
    on it (OverflowError, a 500 over HTTP); it must be a plain refusal."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = json.dumps({k: v for k, v in valid_claims().items() if k != claim})
    payload = b64url(f'{claims[:-1]}, "{claim}": {number}}}'.encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(TEST_SECRET.encode(), signing_input, hashlib.sha256).digest())
    with pytest.raises(TokenError):
        decode_access_token(config, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "a.b", "....", "Bearer x", "eyJhbGciOiJIUzI1NiJ9.e30.", "\x00\xff"],
)
def test_garbage_string_is_refused(config: TokenConfig, garbage: str) -> None:
    with pytest.raises(TokenError):
        decode_access_token(config, garbage)


def test_tampered_payload_is_refused(config: TokenConfig) -> None:
    token, _ = encode_access_token(config, uuid.uuid4(), uuid.uuid4(), NOW)
    header, _payload, signature = token.split(".")
    forged = b64url(json.dumps(valid_claims()).encode())
    with pytest.raises(TokenError):
        decode_access_token(config, f"{header}.{forged}.{signature}")


def test_token_with_padding_appended_decodes_to_the_same_claims(config: TokenConfig) -> None:
    """The JWT library tolerates base64 padding, so `token + "="` is accepted as the same
    token. That is safe because revocation is keyed on the signed `sid` claim, never on
    the token string: the re-encoded token names the same session and is revoked with it
    (test_auth_service.py checks that a padded token is refused after logout)."""
    token, issued = encode_access_token(config, uuid.uuid4(), uuid.uuid4(), NOW)

    padded = decode_access_token(config, token + "=")

    assert padded == issued
    assert padded.session_id == issued.session_id
