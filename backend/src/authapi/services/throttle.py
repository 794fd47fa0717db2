"""The per-account throttle as the services see it: an attempt at a password or a
code is reserved before it is checked, and a right one gives its place back.

Reserving first is what makes the limit hold under concurrency: thirty guesses
arriving at once for one account get ten checks, not thirty (rate_limit.LoginThrottle
does it atomically in Redis or in memory).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy import Engine

from authapi import errors
from authapi.models import AuthEventType
from authapi.services import audit
from authapi.services.audit import ClientInfo


class Attempt(Protocol):
    @property
    def retry_after(self) -> int | None: ...

    def succeeded(self) -> None: ...


class LoginThrottle(Protocol):
    def begin(self, email: str) -> Attempt: ...
    def clear(self, email: str) -> None: ...


class ActionLimit(Protocol):
    """rate_limit.ActionLimit: one action counted per key, successes included."""

    def hit(self, *keys: str) -> int | None: ...


def begin_attempt(
    engine: Engine,
    throttle: LoginThrottle,
    email: str,
    client: ClientInfo,
    user_id: uuid.UUID | None = None,
) -> Attempt:
    """An attempt for the account, or the audited 429 too_many_attempts when it has
    none left. Call `succeeded()` on it when the guess proves right."""
    attempt = throttle.begin(email)
    if attempt.retry_after is not None:
        audit.record_failure(
            engine, AuthEventType.TOO_MANY_ATTEMPTS, client, user_id=user_id, email=email
        )
        raise errors.with_retry_after(errors.TooManyAttempts(), attempt.retry_after)
    return attempt


def within_limit(limit: ActionLimit, *keys: str) -> None:
    """429 rate_limited with Retry-After when one of the keys has no action left."""
    wait = limit.hit(*keys)
    if wait is not None:
        raise errors.with_retry_after(errors.RateLimited(), wait)
