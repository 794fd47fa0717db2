"""Per-IP limits (slowapi), the mail and action limits, and the storage fallback they
share with the login throttle (login_throttle.py).

Two slowapi traps are handled here:
- its decorator runs after FastAPI has parsed and validated the body, so requests
  rejected with 422 would never count; `RateLimitedRoute` runs the same slowapi
  check before the route does anything (a dependency would not do: FastAPI rejects
  malformed JSON before it resolves dependencies);
- a storage error would surface as a 500; the limiter falls back to per-process
  memory (fail-open to a local limit) and probes the storage again periodically.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.concurrency import run_in_threadpool

from authapi.client_address import client_key
from authapi.config import Settings

# slowapi is met in this module only (an import-linter contract holds it): the
# rest of authapi names its limiter and its refusal through these.
RequestLimiter = Limiter
LimitExceeded = RateLimitExceeded

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_B = TypeVar("_B")

KEY_PREFIX = "authapi"
# A policy's name in RateLimit-Policy is a quoted string; keep it plain.
_POLICY_NAME = re.compile(r"[^A-Za-z0-9_.-]")
STORAGE_RETRY_SECONDS = 30
# A stopped or hung Redis must cost a request milliseconds, not a hang: short
# timeouts, then the per-process fallback takes over.
REDIS_TIMEOUT_SECONDS = 0.5


def storage_options(uri: str) -> dict[str, Any]:
    if uri.startswith(("redis://", "rediss://", "redis+")):
        return {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            # redis-py retries 3 times with backoff by default: a hung Redis would
            # then hold the first request ~5 s instead of one timeout.
            "retry": Retry(NoBackoff(), 0),
        }
    return {}


def create_limiter(settings: Settings) -> Limiter:
    return Limiter(
        key_func=client_key,
        storage_uri=settings.rate_limit_storage_uri,
        storage_options=storage_options(settings.rate_limit_storage_uri),
        strategy="moving-window",
        # Our own limit headers (limit_headers), on errors too; slowapi would add its
        # own only to successes, with an epoch Reset and a Retry-After on every answer.
        headers_enabled=False,
        key_prefix=KEY_PREFIX,
        # While the storage is down, each route's own limits count in per-process
        # memory, shared scopes included (login and token keep one count).
        # `in_memory_fallback=[...]` would not do: slowapi counts its fallback limits
        # per endpoint, so two endpoints would double an attacker's guesses.
        in_memory_fallback_enabled=True,
    )


def storage_is_up(limiter: Limiter) -> bool:
    """Whether the limiter's storage answers (one round trip; storage I/O)."""
    return bool(limiter._storage.check())


def register_limits(
    limiter: Limiter,
    settings: Settings,
    *,
    shared: Mapping[str, Sequence[Callable[..., Any]]],
    own: dict[str, str] | None = None,
) -> None:
    """Attach the auth limit to endpoints; endpoints in one group share one count.
    A group named in `own` has that limit instead (e.g. `{"refresh": "60/minute"}`)."""
    for scope, endpoints in shared.items():
        limit = (own or {}).get(scope, settings.rate_limit_auth)
        decorate = limiter.shared_limit(limit, scope=scope)
        for endpoint in endpoints:
            decorate(endpoint)


def limit_headers(limiter: Limiter, current: Any) -> dict[str, str]:
    """The limit headers of a request's window: the IETF httpapi draft's
    `RateLimit-Policy` and `RateLimit` (remaining, seconds to reset), and the
    `X-RateLimit-*` that clients already read, with Reset in seconds from now too.

    Storage I/O: call it off the event loop. A storage that cannot answer gives no
    headers rather than an error (the limit itself has already been checked).
    """
    if current is None:
        return {}
    item, arguments = current
    try:
        reset_at, remaining = limiter.limiter.get_window_stats(item, *arguments)
    except Exception:
        logger.warning("rate-limit storage unreachable; response sent without limit headers")
        return {}
    reset_in = max(0, math.ceil(reset_at - time.time()))
    policy = _POLICY_NAME.sub("_", str(arguments[-1])) if arguments else "default"
    return {
        "RateLimit-Policy": f'"{policy}";q={item.amount};w={item.get_expiry()}',
        "RateLimit": f'"{policy}";r={remaining};t={reset_in}',
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_in),
    }


class RateLimitedRoute(APIRoute):
    """A route that counts each request against its endpoint's slowapi limits
    before anything else happens, so that every rejected request counts, whether
    FastAPI rejects its JSON, its fields, or our services reject its content.

    Every answer carries the limit headers: a success gets them here; an error
    (401, 409, 422, 429 too_many_attempts) finds them in `request.state`, where the
    error handlers (handlers.problem_response) pick them up.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        endpoint = self.endpoint

        async def limited(request: Request) -> Response:
            limiter: Limiter = request.app.state.limiter
            # Storage I/O (Redis) is blocking: keep it off the event loop.
            await run_in_threadpool(
                limiter._check_request_limit, request, endpoint, in_middleware=False
            )
            request.state._rate_limiting_complete = True
            current = request.state.view_rate_limit
            try:
                response = await handle(request)
            except Exception:
                request.state.limit_headers = await run_in_threadpool(
                    limit_headers, limiter, current
                )
                raise
            response.headers.update(await run_in_threadpool(limit_headers, limiter, current))
            return response

        return limited


def account_key(email: str) -> str:
    """A digest, so that the limiter storage (Redis) holds no attempted emails."""
    return hashlib.sha256(email.encode()).hexdigest()


class WithFallback(Generic[_B]):
    """A counter on the configured storage, falling back to per-process memory while
    the storage (Redis) is unreachable, and probing it again later. `primary` may be
    `fallback` itself (memory://)."""

    def __init__(self, primary: _B, fallback: _B) -> None:
        self._primary = primary
        self._fallback = fallback
        self._primary_down_until = 0.0

    def _call(self, action: Callable[[_B], _T]) -> _T:
        return self._call_on(action)[1]

    def _call_on(self, action: Callable[[_B], _T]) -> tuple[_B, _T]:
        """`action` on the storage that answers, and which one that was."""
        if self._primary is not self._fallback and time.monotonic() >= self._primary_down_until:
            try:
                return self._primary, action(self._primary)
            except Exception:
                logger.warning("rate-limit storage unreachable; using per-process memory")
                self._primary_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
        return self._fallback, action(self._fallback)


class _StorageWithFallback(WithFallback[MovingWindowRateLimiter]):
    """A `limits` moving-window limiter on the configured storage, with the fallback."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri
        super().__init__(
            MovingWindowRateLimiter(storage_from_string(uri, **storage_options(uri))),
            MovingWindowRateLimiter(MemoryStorage()),
        )

    def reset(self) -> None:
        for limiter in (self._primary, self._fallback):
            limiter.storage.reset()


class MailLimit(_StorageWithFallback):
    """Link mails per address, so that nobody can use the service to flood an inbox,
    counted per requesting client (MAIL_RATE_LIMIT) under a higher ceiling for the
    address from everyone (MAIL_ADDRESS_LIMIT): a stranger who spends their own
    count cannot silence the owner's reset mail. Shared across workers and instances
    like the other limits."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._per_requester = parse_many(settings.mail_rate_limit)
        self._per_address = parse_many(settings.mail_address_limit)

    def allow(self, address: str, requester: str) -> bool:
        """Count one mail to `address` asked for by `requester` (a client's limit key);
        False when that is one too many."""
        key = account_key(address)

        def hit(limiter: MovingWindowRateLimiter) -> bool:
            return all(
                limiter.hit(item, KEY_PREFIX, "mail", key, requester)
                for item in self._per_requester
            ) and all(
                limiter.hit(item, KEY_PREFIX, "mail-address", key) for item in self._per_address
            )

        return self._call(hit)


class ActionLimit(_StorageWithFallback):
    """How often something may be done, successes included, per key (an account, a
    client): for work a logged-in caller can repeat at will, such as a password
    confirmation (a bcrypt check each) or an email change (a mail each)."""

    def __init__(self, settings: Settings, limit: str, name: str) -> None:
        super().__init__(settings)
        self._items = parse_many(limit)
        self._name = name

    def hit(self, *keys: str) -> int | None:
        """Count one action for each key; the seconds to wait if a key had none left."""

        def hit(limiter: MovingWindowRateLimiter) -> int | None:
            for key in keys:
                for item in self._items:
                    if not limiter.hit(item, KEY_PREFIX, self._name, key):
                        reset_at, _ = limiter.get_window_stats(item, KEY_PREFIX, self._name, key)
                        return max(1, math.ceil(reset_at - time.time()))
            return None

        return self._call(hit)
