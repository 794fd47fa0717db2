"""authapi's public keys, fetched from its JWKS and cached.

The set is kept for the answer's `max-age` (authapi says 300 s). A token whose `kid`
the cached set lacks makes one refetch (authapi rotated its key), but at most one per
cooldown, so made-up kids cannot turn this service into a flood of fetches; and one
for all the requests that wait on it (single-flight). If a refetch fails, keys already
known keep verifying (stale-if-error): authapi down is no reason to refuse tokens of
keys it published.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, RSAKey

from authapi_verifier.errors import JwksUnavailable

# The algorithms authapi signs with. A key fixes its algorithm: the token's `alg`
# header is only checked against it, never obeyed.
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MAX_JWKS_BYTES = 64 * 1024
MAX_CACHE_SECONDS = 24 * 3600
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    key: ECKey | RSAKey | OctKey
    algorithm: str


class _FetchFailed(Exception):
    """Why a fetch gave no key set, in words fit for a log line."""


class JwksCache:
    def __init__(
        self,
        url: str,
        http: Callable[[], httpx.AsyncClient],
        *,
        default_max_age: float,
        refetch_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._default_max_age = default_max_age
        self._cooldown = refetch_cooldown
        self._clock = clock
        self._keys: dict[str, VerifyingKey] = {}
        self._expires_at = -math.inf
        self._last_attempt = -math.inf
        self._last_failed = False
        self._attempts = 0  # how many fetches began: a waiter compares it, see `key`
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def key(self, kid: str) -> VerifyingKey | None:
        """The key named `kid`, or None if authapi does not publish it.

        Raises JwksUnavailable when the key is not known and authapi cannot be asked.
        """
        now = self._clock()
        if now < self._expires_at and kid in self._keys:
            return self._keys[kid]
        attempts = self._attempts
        # Under the lock, so that a request arriving during a fetch waits for its
        # answer instead of taking the cooldown for a "no".
        async with self._loop_lock():
            fetched_meanwhile = self._attempts != attempts
            if not fetched_meanwhile and self._clock() - self._last_attempt >= self._cooldown:
                await self._fetch()
        key = self._keys.get(kid)  # a stale key too, when the refetch failed
        if key is None and self._last_failed:
            raise JwksUnavailable
        return key

    def _loop_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a test client may run each
        # request in a loop of its own.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _fetch(self) -> None:
        self._attempts += 1
        self._last_attempt = self._clock()
        try:
            response = await self._http().get(self.url, headers={"Accept": "application/json"})
            keys = _parse(response)
        except (_FetchFailed, httpx.HTTPError) as exc:
            self._last_failed = True
            reason = str(exc) if isinstance(exc, _FetchFailed) else type(exc).__name__
            logger.warning("cannot fetch authapi's JWKS from %s: %s", self.url, reason)
            return
        self._keys = keys
        self._last_failed = False
        max_age = _max_age(response.headers.get("cache-control", ""), self._default_max_age)
        # Never less than the cooldown: `max-age=0` must not mean a fetch per request.
        ttl = min(max(max_age, self._cooldown), MAX_CACHE_SECONDS)
        self._expires_at = self._last_attempt + ttl


def _max_age(cache_control: str, default: float) -> float:
    if _NO_CACHE.search(cache_control):
        return 0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else default


def _parse(response: httpx.Response) -> dict[str, VerifyingKey]:
    if response.status_code != 200:
        raise _FetchFailed(f"HTTP {response.status_code}")
    if len(response.content) > MAX_JWKS_BYTES:
        raise _FetchFailed("the answer is too large")
    try:
        body = response.json()
    except ValueError:
        raise _FetchFailed("the answer is not JSON") from None
    entries = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise _FetchFailed("the answer is not a JWK Set")
    keys: dict[str, VerifyingKey] = {}
    for entry in entries:
        key = _verifying_key(entry) if isinstance(entry, dict) else None
        if key is not None and isinstance(entry.get("kid"), str):
            keys[entry["kid"]] = key
    return keys


def _verifying_key(entry: Mapping[str, Any]) -> VerifyingKey | None:
    """A signature key of an algorithm we accept; None for any other entry (skipped,
    so one odd key in the set does not make the others unusable)."""
    if entry.get("use", "sig") != "sig":
        return None
    kty, algorithm = entry.get("kty"), entry.get("alg")
    try:
        if kty == "EC" and entry.get("crv") == "P-256" and algorithm in (None, "ES256"):
            return VerifyingKey(ECKey.import_key(dict(entry)), "ES256")
        if kty == "RSA" and algorithm in (None, "RS256"):
            return VerifyingKey(RSAKey.import_key(dict(entry)), "RS256")
    except (JoseError, ValueError, TypeError, KeyError):
        logger.warning("skipping a malformed key of authapi's JWKS (kid %r)", entry.get("kid"))
    return None
