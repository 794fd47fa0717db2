"""Per-IP limits (slowapi): the limiter, the route that counts before parsing, the limit
headers. The storage, its fallback and the mail and action limits are
limit_storage.py's.

Two slowapi traps are handled here:
- its decorator runs after FastAPI has parsed and validated the body, so requests
  rejected with 422 would never count; `RateLimitedRoute` runs the same slowapi
  check before the route does anything (a dependency would not do: FastAPI rejects
  malformed JSON before it resolves dependencies);
- a storage error would surface as a 500; the limiter falls back to per-process
  memory (fail-open to a local limit) and probes the storage again periodically.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.concurrency import run_in_threadpool

from authapi.client_address import client_key
from authapi.config import Settings
from authapi.limit_storage import KEY_PREFIX, storage_options

# slowapi is met in this module only (an import-linter contract holds it): the
# rest of authapi names its limiter and its refusal through these.
RequestLimiter = Limiter
LimitExceeded = RateLimitExceeded

logger = logging.getLogger(__name__)
# A policy's name in RateLimit-Policy is a quoted string; keep it plain.
_POLICY_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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
