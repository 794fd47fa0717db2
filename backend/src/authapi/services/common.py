"""What several services share: the caller of a protected endpoint, the per-account
throttle as the services see it, and the password asked again for changes that
matter. Every service may import this module; it imports no other service but the
audit trail.

The throttle reserves an attempt at a password or a code before it is checked, and
a right one gives its place back. Reserving first is what makes the limit hold
under concurrency: thirty guesses arriving at once for one account get ten checks,
not thirty (login_throttle.LoginThrottle does it atomically in Redis or in memory).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authapi import errors
from authapi.models import AuthEventType, User
from authapi.repositories import users
from authapi.repositories.sessions import UserSnapshot
from authapi.security import PasswordHasher
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a protected endpoint: the user and the session of their token,
    and the admin behind it when the session is an impersonation."""

    user: UserSnapshot
    session_id: uuid.UUID
    impersonator_id: uuid.UUID | None = None


@contextmanager
def admin_kept(uow: UnitOfWork, user: User, now: datetime) -> Iterator[None]:
    """Around a change that may take an admin away (a demotion, a disable, a
    deletion): the admins are locked first (PostgreSQL; SQLite's write lock already
    serialises writers), so of two admins removing each other at once the second
    counts after the first commits; and after the change, in the same transaction,
    409 last_admin if no usable admin is left."""
    if not user.is_admin:
        yield
        return
    users.lock_admins(uow.session, now)
    yield
    if users.count_usable_admins(uow.session, now) == 0:
        raise errors.LastAdmin


def load_user(uow: UnitOfWork, principal: Principal) -> User:
    """The caller's row, to change it: the token check read a snapshot only."""
    user = users.get_by_id(uow.session, principal.user.id)
    if user is None:  # deleted between the token check and now
        raise errors.TokenRevoked
    return user


# -- the per-account throttle -------------------------------------------------------


class Attempt(Protocol):
    @property
    def retry_after(self) -> int | None: ...

    def succeeded(self) -> None: ...


class AccountThrottle(Protocol):
    """login_throttle.LoginThrottle: wrong passwords and codes, per account."""

    def begin(self, email: str) -> Attempt: ...
    def clear(self, email: str) -> None: ...


class ActionLimit(Protocol):
    """limit_storage.ActionLimit: one action counted per key, successes included."""

    def hit(self, *keys: str) -> int | None: ...


def begin_attempt(
    uow: UnitOfWork,
    throttle: AccountThrottle,
    email: str,
    client: ClientInfo,
    user_id: uuid.UUID | None = None,
) -> Attempt:
    """An attempt for the account, or the audited 429 too_many_attempts when it has
    none left. Call `succeeded()` on it when the guess proves right."""
    attempt = throttle.begin(email)
    if attempt.retry_after is not None:
        uow.keep(
            audit.failure(AuthEventType.TOO_MANY_ATTEMPTS, client, user_id=user_id, email=email)
        )
        raise errors.with_retry_after(errors.TooManyAttempts(), attempt.retry_after)
    return attempt


def within_limit(limit: ActionLimit, *keys: str) -> None:
    """429 rate_limited with Retry-After when one of the keys has no action left."""
    wait = limit.hit(*keys)
    if wait is not None:
        raise errors.with_retry_after(errors.RateLimited(), wait)


# -- the password again -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """What a password confirmation needs: the hasher, the per-account throttle that
    wrong guesses count in, and the limit on confirmations of any outcome."""

    hasher: PasswordHasher
    throttle: AccountThrottle
    confirmations: ActionLimit

    def confirm(self, uow: UnitOfWork, user: User, password: str, client: ClientInfo) -> None:
        """The password again, for changes that matter (400 wrong_password).

        Wrong guesses count in the per-account login throttle: a stolen access token
        must not become a way to guess the password without limit. Every
        confirmation, right or wrong, counts in RATE_LIMIT_PASSWORD_CONFIRM per account
        and per client: each costs a bcrypt check, and one account looping on a right
        password would otherwise keep the hasher from everyone else's logins.

        An account made by a provider sign-in has no password to confirm (400
        password_not_set): it sets one through the reset link, which proves the
        mailbox, rather than have a stolen access token stand in for a password."""
        if user.password_hash is None:
            raise errors.PasswordNotSet
        within_limit(self.confirmations, f"user:{user.id}", f"ip:{client.requester}")
        attempt = begin_attempt(uow, self.throttle, user.email, client, user.id)
        if not self.hasher.verify(password, user.password_hash):
            uow.keep(
                audit.failure(
                    AuthEventType.LOGIN_FAILURE,
                    client,
                    user_id=user.id,
                    email=user.email,
                    reason="wrong_password",
                )
            )
            raise errors.WrongPassword
        attempt.succeeded()
