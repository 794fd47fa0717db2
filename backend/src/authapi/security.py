"""Password hashing and access tokens: no FastAPI, no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
import unicodedata
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from jose import ExpiredSignatureError, JOSEError, jwt
from passlib.context import CryptContext

from authapi.keys import Key, KeySet, hs_key

# Mailed one-time links carry 256 random bits, URL-safe; only their SHA-256 is stored.
LINK_TOKEN_BYTES = 32
REFRESH_TOKEN_BYTES = 32
REQUIRED_CLAIMS = ("sub", "sid", "jti", "iat", "exp", "iss", "aud")
# Hashing threads run this much "nicer" than the threads serving requests, so that a
# login storm slows logins down, not /health or /auth/me.
HASHING_NICENESS = 10

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def normalize_password(password: str) -> str:
    """NFKC, so that the same password typed on two keyboards is the same password."""
    return unicodedata.normalize("NFKC", password)


def _lower_thread_priority() -> None:
    try:  # Linux: a thread id given to setpriority changes that thread only
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):
        logger.debug("could not lower the hashing threads' priority")


class PasswordHasher:
    """bcrypt through libpass's `bcrypt_sha256`, on a small pool of its own.

    bcrypt only reads 72 bytes; `bcrypt_sha256` feeds it an HMAC-SHA256 digest of the
    whole password instead, so every character of a 128-character password counts.

    Hashing runs on `workers` low-priority threads (one per core by default): the
    request thread waits for it, so at most that many hashes run at once and the
    CPU they leave free goes to the threads answering other requests first.
    """

    def __init__(self, rounds: int, workers: int | None = None) -> None:
        # min_rounds, not rounds: `rounds` would also flag hashes *above* the cost as
        # outdated, and a node with an older, lower setting would weaken them.
        self._context = CryptContext(
            schemes=["bcrypt_sha256"],
            bcrypt_sha256__default_rounds=rounds,
            bcrypt_sha256__min_rounds=rounds,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 1,
            thread_name_prefix="password-hasher",
            initializer=_lower_thread_priority,
        )
        # Verifying against this when the account is unknown makes that path cost
        # what a real verification costs, so timing does not reveal which emails exist.
        self._dummy_hash = self.hash(secrets.token_urlsafe(32))

    def _run(self, work: Callable[[], _T]) -> _T:
        return self._pool.submit(work).result()

    def hash(self, password: str) -> str:
        normalized = normalize_password(password)
        return self._run(lambda: str(self._context.hash(normalized)))

    def verify(self, password: str, password_hash: str | None) -> bool:
        """An account with no password (made by social sign-in) is checked against a
        dummy hash: it refuses every password in a password's time."""
        normalized = normalize_password(password)
        stored = password_hash if password_hash is not None else self._dummy_hash
        return self._run(lambda: self._verify(normalized, stored)) and password_hash is not None

    def _verify(self, password: str, password_hash: str) -> bool:
        try:
            return bool(self._context.verify(password, password_hash))
        except (ValueError, TypeError):  # a malformed stored hash never authenticates
            return False

    def burn_time(self, password: str) -> None:
        """Spend one verification's worth of time and authenticate nobody."""
        self.verify(password, self._dummy_hash)

    def needs_rehash(self, password_hash: str | None) -> bool:
        return password_hash is not None and bool(self._context.needs_update(password_hash))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class TokenError(Exception):
    """The token cannot be trusted."""


class TokenExpiredError(TokenError):
    """Signed correctly but past its `exp`."""


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """`keys` sign and verify; without it, the HS `secret` and `algorithm` make it."""

    secret: str
    algorithm: str
    issuer: str
    audience: str
    ttl: timedelta
    keys: KeySet = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.keys is None:
            object.__setattr__(self, "keys", KeySet(current=hs_key(self.secret, self.algorithm)))


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    token_id: str
    issued_at: datetime
    expires_at: datetime


def encode_access_token(
    config: TokenConfig,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    now: datetime,
    not_after: datetime | None = None,
    *,
    role: str = "user",
    actor_id: uuid.UUID | None = None,
    ttl: timedelta | None = None,
) -> tuple[str, AccessClaims]:
    """A token for the session, signed with the current key (`kid` in the header).
    It expires after the configured lifetime (or `ttl`), or at `not_after` (the end
    of its session) if that comes first.

    `role` is for resource servers, which have no database to read it from (authapi
    itself reads the role from the database on every request). An impersonated
    session's token names the admin as its actor (`act`, RFC 8693 4.1)."""
    issued_at = now.replace(microsecond=0)
    expires_at = issued_at + (ttl or config.ttl)
    if not_after is not None:
        expires_at = min(expires_at, not_after.replace(microsecond=0))
    claims = AccessClaims(
        user_id=user_id,
        session_id=session_id,
        token_id=uuid.uuid4().hex,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    payload: dict[str, object] = {
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": claims.token_id,
        "iat": int(issued_at.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "iss": config.issuer,
        "aud": config.audience,
        "role": role,
    }
    if actor_id is not None:
        payload["act"] = {"sub": str(actor_id)}
    key = config.keys.current
    if key.sign_with is None:  # keys.build_key_set refuses such a set at start-up
        raise TokenError("the current key cannot sign")
    token = jwt.encode(payload, key.sign_with, algorithm=key.algorithm, headers={"kid": key.kid})
    return token, claims


_REQUIRE = {f"require_{claim}": True for claim in ("exp", "iat", "sub", "jti", "iss", "aud")}


def _candidate_keys(config: TokenConfig, token: str) -> list[Key]:
    """The key the token's `kid` names in our set (or, without `kid`, the HS keys)."""
    try:
        header = jwt.get_unverified_header(token)
    except (JOSEError, ValueError, TypeError, KeyError) as exc:
        raise TokenError from exc
    kid = header.get("kid")
    if kid is None:
        return config.keys.without_kid()
    key = config.keys.find(kid) if isinstance(kid, str) else None
    return [key] if key is not None else []


def decode_access_token(config: TokenConfig, token: str) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience and expiry; require every claim.

    The algorithm is the chosen key's, pinned: no `none`, no HS/RS confusion.
    """
    keys = _candidate_keys(config, token)
    if not keys:
        raise TokenError
    for index, key in enumerate(keys):
        try:
            payload = jwt.decode(
                token,
                key.verify_with,
                algorithms=[key.algorithm],
                audience=config.audience,
                issuer=config.issuer,
                options=_REQUIRE,
            )
            break
        except ExpiredSignatureError as exc:
            raise TokenExpiredError from exc
        # OverflowError: jose's own claim checks call int() on `exp`, `iat` and `nbf`,
        # and a signed `1e999` is infinity once parsed.
        except (JOSEError, ValueError, TypeError, KeyError, OverflowError) as exc:
            if index == len(keys) - 1:
                raise TokenError from exc
    else:  # pragma: no cover  (the loop breaks or raises)
        raise TokenError
    if any(claim not in payload for claim in REQUIRED_CLAIMS):
        raise TokenError
    try:
        return AccessClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            session_id=uuid.UUID(str(payload["sid"])),
            token_id=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise TokenError from exc


def new_link_token() -> tuple[str, str]:
    """A fresh one-time token and the hash to store for it."""
    token = secrets.token_urlsafe(LINK_TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """How link and refresh tokens are stored and looked up. SHA-256 suffices (no
    salt, no bcrypt): a token is 256 random bits, not a password, so the hash
    cannot be reversed by guessing."""
    return hashlib.sha256(token.encode()).hexdigest()


def email_code_key(secret: str) -> bytes:
    """The key of email sign-in codes, derived from JWT_SECRET (a key of its own)."""
    return hashlib.sha256(b"authapi email code " + secret.encode()).digest()


def new_email_code() -> str:
    """Six digits for a person to type, uniformly drawn."""
    return f"{secrets.randbelow(1_000_000):06d}"


def email_code_hash(key: bytes, link_id: uuid.UUID, code: str) -> str:
    """Keyed and bound to its link: a million codes cannot be tried against a copy of
    the table, nor a code of one link used for another."""
    return hmac.new(key, f"{link_id.hex}:{code}".encode(), hashlib.sha256).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def successor_refresh_token(key: bytes, token: str) -> str:
    """The token that replaces `token` at rotation, derived rather than random: two
    tabs refreshing with one token at once must both get the same successor, and
    only its hash is stored. Without `key` nobody can compute it."""
    digest = hmac.new(key, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
