"""The rate-limit storage (Redis, or this process's memory) as the limits use it: its
options, the fallback to memory while it is down, and the limits counted on it
directly (mail per address, actions per key). The per-account throttle
(login_throttle.py) shares the fallback."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from authapi.config import Settings

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_B = TypeVar("_B")

KEY_PREFIX = "authapi"
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
