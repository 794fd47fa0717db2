"""The verifier: one per service, built from its settings, kept on `app.state`.

A token is checked in this order: its `kid` picks the key (from authapi's JWKS, or
the shared HS secret), the key fixes the algorithm, the signature is checked, then
the claims (`iss`, `aud`, `exp`, `iat`, `sub`, `sid`), and last, if configured,
authapi is asked whether the session is still live. A forged token is therefore
`token_invalid` even when it is also expired, and it never reaches authapi.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from authapi_verifier.claims import Claims
from authapi_verifier.errors import (
    TokenExpired,
    TokenInvalid,
    VerificationError,
    problem_response,
)
from authapi_verifier.introspection import Introspector
from authapi_verifier.jwks import JwksCache, VerifyingKey

HS_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_HS_SECRET_BYTES = 32  # authapi's own minimum for JWT_SECRET
# authapi's tokens are well under 1 KiB; parsing a megabyte "token" is work for nothing.
MAX_TOKEN_CHARS = 8 * 1024
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "sid")
STATE_ATTRIBUTE = "authapi_verifier"


def hs_kid(secret: str) -> str:
    """The `kid` authapi puts on tokens signed with this secret (`authapi.keys.hs_key`)."""
    digest = hashlib.sha256(b"authapi kid " + secret.encode()).digest()
    return "hs-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:16]


class Verifier:
    """Checks authapi access tokens; see the module docstring for the order."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        hs_secret: str | None = None,
        hs_previous_secrets: Sequence[str] = (),
        hs_algorithm: str = "HS256",
        issuer: str = "authapi",
        audience: str = "authapi",
        introspection_url: str | None = None,
        introspection_client_id: str | None = None,
        introspection_client_secret: str | None = None,
        jwks_cache_seconds: float = 300,
        jwks_refetch_cooldown_seconds: float = 5,
        leeway_seconds: int = 10,
        timeout_seconds: float = 5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """`http_client` is for callers that bring their own (hooks, proxies, tests);
        it is theirs to close. Without it the verifier makes one and closes it in
        `aclose`, which `install` runs at the app's shutdown."""
        if jwks_url is None and hs_secret is None:
            raise ValueError("give jwks_url (RS256/ES256), hs_secret (HS*), or both")
        if hs_algorithm not in HS_ALGORITHMS:
            raise ValueError(f"hs_algorithm must be one of {', '.join(HS_ALGORITHMS)}")
        secrets = [s for s in (hs_secret, *hs_previous_secrets) if s is not None]
        if any(len(secret.encode()) < MIN_HS_SECRET_BYTES for secret in secrets):
            raise ValueError(f"an HS secret has at least {MIN_HS_SECRET_BYTES} bytes")
        if jwks_refetch_cooldown_seconds < 0 or jwks_cache_seconds < 0 or leeway_seconds < 0:
            raise ValueError("cache, cooldown and leeway seconds cannot be negative")
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self._timeout = timeout_seconds
        self._given_client = http_client
        self._own_client: httpx.AsyncClient | None = None
        self._own_client_loop: asyncio.AbstractEventLoop | None = None
        self._hs_keys = {
            hs_kid(secret): VerifyingKey(OctKey.import_key(secret.encode()), hs_algorithm)
            for secret in secrets
        }
        self._jwks = (
            JwksCache(
                jwks_url,
                self._client,
                default_max_age=jwks_cache_seconds,
                refetch_cooldown=jwks_refetch_cooldown_seconds,
            )
            if jwks_url is not None
            else None
        )
        self._introspector: Introspector | None = None
        if introspection_url is not None:
            if not introspection_client_id or not introspection_client_secret:
                raise ValueError("introspection needs its client id and client secret")
            self._introspector = Introspector(
                introspection_url,
                introspection_client_id,
                introspection_client_secret,
                self._client,
            )

    def __repr__(self) -> str:  # no secret in a log line or a traceback
        jwks_url = self._jwks.url if self._jwks else None
        introspection = self._introspector.url if self._introspector else None
        return (
            f"Verifier(jwks_url={jwks_url!r}, hs={bool(self._hs_keys)}, "
            f"introspection_url={introspection!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Verifier:
        """Settings from `AUTHAPI_*` variables (see the docs' table); `overrides` win."""
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            text = env.get(name, "").strip()
            try:
                return float(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a number of seconds") from None

        previous = env.get("AUTHAPI_HS_PREVIOUS_SECRETS", "")
        settings: dict[str, Any] = {
            "jwks_url": env.get("AUTHAPI_JWKS_URL") or None,
            "hs_secret": env.get("AUTHAPI_HS_SECRET") or None,
            "hs_previous_secrets": [s.strip() for s in previous.split(",") if s.strip()],
            "hs_algorithm": env.get("AUTHAPI_HS_ALGORITHM") or "HS256",
            "issuer": env.get("AUTHAPI_ISSUER") or "authapi",
            "audience": env.get("AUTHAPI_AUDIENCE") or "authapi",
            "introspection_url": env.get("AUTHAPI_INTROSPECTION_URL") or None,
            "introspection_client_id": env.get("AUTHAPI_INTROSPECTION_CLIENT_ID") or None,
            "introspection_client_secret": env.get("AUTHAPI_INTROSPECTION_CLIENT_SECRET") or None,
            "jwks_cache_seconds": number("AUTHAPI_JWKS_CACHE_SECONDS", 300),
            "jwks_refetch_cooldown_seconds": number("AUTHAPI_JWKS_REFETCH_COOLDOWN_SECONDS", 5),
            "leeway_seconds": int(number("AUTHAPI_LEEWAY_SECONDS", 10)),
            "timeout_seconds": number("AUTHAPI_HTTP_TIMEOUT_SECONDS", 5),
        }
        return cls(**{**settings, **overrides})

    def install(self, app: FastAPI) -> Verifier:
        """Keep this verifier on `app.state`, answer its refusals as problems, and
        close its HTTP client when the app shuts down (around the app's own lifespan)."""
        setattr(app.state, STATE_ATTRIBUTE, self)
        app.add_exception_handler(VerificationError, problem_response)
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(running: Any) -> AsyncIterator[Any]:
            try:
                async with inner(running) as state:
                    yield state
            finally:  # after the app's own shutdown, which may still verify
                await self.aclose()

        app.router.lifespan_context = lifespan
        return self

    async def aclose(self) -> None:
        """Close the HTTP client the verifier made (a given one is the caller's)."""
        client, self._own_client, self._own_client_loop = self._own_client, None, None
        if client is not None:
            await client.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        # Connections belong to the event loop that opened them: a client made in
        # another loop (a test client's per-request loop) is not reused.
        loop = asyncio.get_running_loop()
        if self._own_client is None or self._own_client_loop is not loop:
            self._own_client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
            self._own_client_loop = loop
        return self._own_client

    async def verify(self, token: str) -> Claims:
        """The token's claims, or a VerificationError (401, or 503 if authapi is needed
        and cannot answer)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenInvalid
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
            raise TokenInvalid from None
        payload = self._signed_payload(token, await self._keys_for(header.get("kid")))
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
        )
        try:
            registry.validate(payload)
        except ExpiredTokenError:
            raise TokenExpired from None
        except (ClaimError, JoseError, ValueError, TypeError, OverflowError):
            raise TokenInvalid from None
        if not isinstance(payload["sid"], str):
            raise TokenInvalid
        claims = Claims.from_payload(payload)
        if self._introspector is not None:
            claims = await self._introspector.check(token, claims)
        return claims

    async def _keys_for(self, kid: object) -> list[VerifyingKey]:
        if kid is None:  # authapi's tokens from before `kid`: its HS secrets signed them
            return list(self._hs_keys.values())
        if not isinstance(kid, str):
            return []
        if kid in self._hs_keys:
            return [self._hs_keys[kid]]
        key = await self._jwks.key(kid) if self._jwks is not None else None
        return [key] if key is not None else []

    def _signed_payload(self, token: str, keys: list[VerifyingKey]) -> dict[str, Any]:
        for candidate in keys:
            try:
                # One algorithm, the key's: `alg: none`, or HS256 "signed" with a
                # public key, fail here whatever the header says.
                decoded = jwt.decode(token, candidate.key, algorithms=[candidate.algorithm])
            except (JoseError, ValueError, TypeError):
                continue
            return dict(decoded.claims)
        raise TokenInvalid
