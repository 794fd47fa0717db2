"""The per-account throttle: attempts at one account's password or codes in a moving
window (LOGIN_FAILURE_LIMIT per LOGIN_FAILURE_WINDOW_SECONDS), reserved before they are
checked, in the rate-limit storage (a Redis sorted set, or this process's memory)."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from authapi.config import Settings
from authapi.limit_storage import KEY_PREFIX, WithFallback, account_key, storage_options

logger = logging.getLogger(__name__)


# Reserve one attempt in a moving window: drop the entries that left the window;
# refuse (answering the milliseconds until the oldest leaves) when the window is
# full; else add this attempt. One script, so concurrent attempts never overfill it.
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1]))
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""


class _Window(Protocol):
    def reserve(self, key: str, member: str, limit: int, window_ms: int) -> int: ...
    def release(self, key: str, member: str) -> None: ...
    def clear(self, key: str) -> None: ...


class _RedisWindow:
    """Attempts as members of a sorted set scored by time, one set per account."""

    def __init__(self, uri: str) -> None:
        self._redis = redis.Redis.from_url(uri, **storage_options(uri))
        self._reserve = self._redis.register_script(_RESERVE)

    def reserve(self, key: str, member: str, limit: int, window_ms: int) -> int:
        now_ms = int(time.time() * 1000)
        return int(self._reserve(keys=[key], args=[now_ms, window_ms, limit, member]))

    def release(self, key: str, member: str) -> None:
        self._redis.zrem(key, member)

    def clear(self, key: str) -> None:
        self._redis.delete(key)


class _MemoryWindow:
    """The same window in this process's memory (`memory://`, and while Redis is down)."""

    SWEEP_EVERY = 1000  # reservations between sweeps of accounts whose window is empty

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._until_sweep = self.SWEEP_EVERY

    def reserve(self, key: str, member: str, limit: int, window_ms: int) -> int:
        now_ms = int(time.time() * 1000)
        with self._lock:
            self._until_sweep -= 1
            if self._until_sweep <= 0:
                self._sweep(now_ms - window_ms)
            entries = self._entries.setdefault(key, {})
            for old in [m for m, at in entries.items() if at <= now_ms - window_ms]:
                del entries[old]
            if len(entries) >= limit:
                return max(1, min(entries.values()) + window_ms - now_ms)
            entries[member] = now_ms
            return 0

    def _sweep(self, horizon_ms: int) -> None:
        self._until_sweep = self.SWEEP_EVERY
        for key in [
            k for k, v in self._entries.items() if all(at <= horizon_ms for at in v.values())
        ]:
            del self._entries[key]

    def release(self, key: str, member: str) -> None:
        with self._lock:
            self._entries.get(key, {}).pop(member, None)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at an account's password or code, reserved before it is checked.
    `retry_after` is set when the account had no attempt left (nothing reserved)."""

    retry_after: int | None
    _release: Callable[[], None] | None = None

    def succeeded(self) -> None:
        """The guess was right: it gives its place back (only failures stay counted)."""
        if self._release is not None:
            self._release()


class LoginThrottle(WithFallback[_Window]):
    """Attempts per email in a moving window (LOGIN_FAILURE_LIMIT per
    LOGIN_FAILURE_WINDOW_SECONDS), in the rate-limit storage.

    An attempt is reserved before its password or code is checked, atomically, so
    however many arrive at once at most the limit are ever checked in a window;
    a right guess gives its place back, a wrong one keeps it. A successful login by
    the owner does not clear the count, so an attacker's failures are not laundered.
    Redis down: per-process memory, and Redis is tried again later.
    """

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri
        memory = _MemoryWindow()
        redis_uri = uri.startswith(("redis://", "rediss://"))
        super().__init__(_RedisWindow(uri) if redis_uri else memory, memory)
        self._limit = settings.login_failure_limit
        self._window_ms = settings.login_failure_window_seconds * 1000

    def begin(self, email: str) -> Attempt:
        """Reserve an attempt for `email`, or say how many seconds until one is free."""
        key, member = _throttle_key(email), uuid.uuid4().hex
        window, wait_ms = self._call_on(
            lambda w: w.reserve(key, member, self._limit, self._window_ms)
        )
        if wait_ms > 0:
            return Attempt(retry_after=max(1, math.ceil(wait_ms / 1000)))

        def release() -> None:
            try:
                window.release(key, member)
            except redis.RedisError:
                logger.warning("rate-limit storage unreachable; an attempt stays counted")

        return Attempt(retry_after=None, _release=release)

    def clear(self, email: str) -> None:
        """Forget the attempts for `email` (after its owner proved the inbox)."""
        key = _throttle_key(email)
        self._call(lambda w: w.clear(key))
        if self._primary is not self._fallback:  # attempts made while Redis was down
            self._fallback.clear(key)


def _throttle_key(email: str) -> str:
    return f"{KEY_PREFIX}:attempts:{account_key(email)}"
