"""Administration of accounts: the /admin API and `python -m authapi users ...` call
the same methods, so a rule (the last admin, a disable's sessions) holds for both.

Every change is audited with its actor: an admin's rows carry their `actor_id`; the
shell's have none, the user agent `authapi-cli` and the reason `shell`, and no IP
address or request id. Like the other services, these never commit: the request's
or the shell command's unit of work holds one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from authapi import errors
from authapi.models import (
    AuthEvent,
    AuthEventType,
    Identity,
    MailKind,
    Organization,
    Passkey,
    User,
)
from authapi.models.base import utcnow
from authapi.models.user import UserRole
from authapi.repositories import identities, orgs, passkeys, sessions, users
from authapi.security import PasswordHasher
from authapi.services import audit, cursors, factors
from authapi.services.account import erase_user
from authapi.services.audit import ClientInfo, EventFilter
from authapi.services.common import admin_kept
from authapi.services.mail import MailService
from authapi.services.passwords import require_strong
from authapi.services.sessions import ImpersonationToken, SessionService, deactivate_user
from authapi.unit_of_work import UnitOfWork

KeyT = TypeVar("KeyT")
SHELL = ClientInfo(ip_address=None, user_agent="authapi-cli", request_id=None)
SHELL_REASON = "shell"
# An impersonation is for looking at what the user sees, not for living as them.
IMPERSONATION_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an admin through the API (`user_id`), or the shell (None)."""

    client: ClientInfo
    user_id: uuid.UUID | None = None

    @property
    def reason(self) -> str | None:
        return SHELL_REASON if self.user_id is None else None


SHELL_ACTOR = Actor(SHELL)


@dataclass(frozen=True, slots=True)
class UserDetail:
    user: User
    active_sessions: int
    identities: Sequence[Identity]  # the provider accounts that sign in to it
    passkeys: Sequence[Passkey]
    orgs: Sequence[tuple[Organization, str]]  # each with the user's role in it


@dataclass(frozen=True, slots=True)
class UserChanges:
    """An admin's PATCH: only the fields given change."""

    name: str | None = None
    role: str | None = None
    email_verified: bool | None = None
    fields: frozenset[str] = frozenset()


class AdminService:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        mail: MailService,
        sessions: SessionService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._hasher = hasher
        self._mail = mail
        self._sessions = sessions
        self._clock = clock

    # -- finding ----------------------------------------------------------------------

    @staticmethod
    def find(uow: UnitOfWork, email: str) -> User:
        """`email` as the caller normalised it (schemas.common.canonical_email), the
        one form signup stores: no second normaliser here to drift from it."""
        user = users.get_by_email(uow.session, email)
        if user is None:
            raise errors.NotFound(f"no user with the email {email.strip()!r}")
        return user

    @staticmethod
    def get(uow: UnitOfWork, user_id: uuid.UUID) -> User:
        user = users.get_by_id(uow.session, user_id)
        if user is None:
            raise errors.NotFound("No user has this id.")
        return user

    def list_users(self, uow: UnitOfWork, limit: int, email_contains: str | None) -> list[User]:
        return users.list_newest(uow.session, limit, email_contains)

    def search(
        self, uow: UnitOfWork, query: str | None, limit: int, cursor: str | None
    ) -> tuple[list[User], str | None]:
        """A page of users: those whose email or name starts with `query` (any case),
        by the email or name that matched; without one, everyone, newest first. The
        cursor says which listing it continues."""
        if query:
            after = _decode_cursor(cursor, "k", str) if cursor else None
            found = users.search(uow.session, query.lower(), limit + 1, after)
            page = [user for _, user in found[:limit]]
            last = found[limit - 1][0] if len(found) > limit else None
            return page, _encode_cursor("k", *last) if last else None
        before = _decode_cursor(cursor, "c", cursors.utc_time) if cursor else None
        rows = users.newest(uow.session, limit + 1, before)
        page, more = rows[:limit], len(rows) > limit
        newest_last = page[-1] if more else None
        return page, (
            _encode_cursor("c", newest_last.created_at.isoformat(), newest_last.id)
            if newest_last
            else None
        )

    def is_disabled(self, user: User) -> bool:
        return user.is_disabled(self._clock())

    def show_user(self, uow: UnitOfWork, user: User) -> UserDetail:
        return UserDetail(
            user,
            sessions.count_active(uow.session, user.id, self._clock()),
            identities.list_for_user(uow.session, user.id),
            passkeys.list_for_user(uow.session, user.id),
            orgs.list_for_user(uow.session, user.id),
        )

    def events(
        self, uow: UnitOfWork, user: User, limit: int, cursor: str | None
    ) -> tuple[list[AuthEvent], str | None]:
        """The user's trail: what they did, and what was done to them."""
        return audit.events_page(uow, user.id, limit, cursor)

    def security_log(
        self, uow: UnitOfWork, where: EventFilter, limit: int, cursor: str | None
    ) -> tuple[list[AuthEvent], str | None]:
        return audit.search_page(uow, where, limit, cursor)

    # -- changing ---------------------------------------------------------------------

    def create_user(
        self,
        uow: UnitOfWork,
        actor: Actor,
        email: str,
        password: str | None,
        name: str | None,
        *,
        role: str = UserRole.USER,
        verified: bool = False,
    ) -> User:
        """Like signup under the same rules, but no token and no session. Without a
        password the account has none until its owner sets one from the mailed
        set-password link (the reset flow, which also proves the address); with one,
        `verified` vouches for the address instead of a verification link."""
        if password is not None:
            require_strong(password, email)
        if users.get_by_email(uow.session, email) is not None:
            raise errors.EmailTaken(f"an account with the email {email} already exists")
        user = User(
            email=email,
            name=name,
            role=role,
            password_hash=self._hasher.hash(password) if password is not None else None,
            email_verified_at=self._clock() if verified else None,
        )
        try:
            users.add(uow.session, user)
        except users.EmailAlreadyStored:  # lost a race with a concurrent signup
            raise errors.EmailTaken from None
        self._record(uow, actor, AuthEventType.USER_CREATED, user)
        if password is None:
            self._mail.queue_link(
                uow, MailKind.PASSWORD_RESET, user.id, user.email, actor.client.requester
            )
        return user

    def update_user(self, uow: UnitOfWork, actor: Actor, user: User, changes: UserChanges) -> User:
        if "role" in changes.fields and changes.role is not None and changes.role != user.role:
            self.set_role(uow, actor, user, changes.role)
        touched = False
        if "name" in changes.fields and changes.name != user.name:
            user.name = changes.name
            touched = True
        verified = changes.email_verified
        is_verified = user.email_verified_at is not None
        if "email_verified" in changes.fields and verified not in (None, is_verified):
            user.email_verified_at = self._clock() if verified else None
            touched = True
        if touched:
            users.save(uow.session, user)
            self._record(uow, actor, AuthEventType.USER_UPDATED, user)
        return user

    def set_role(self, uow: UnitOfWork, actor: Actor, user: User, role: str) -> None:
        """Read from the database on every request: a demotion holds on the very next
        one, on any worker. The last admin keeps the role (409 last_admin)."""
        if role == user.role:
            return
        with admin_kept(uow, user, self._clock()):
            users.set_role(uow.session, user, role)
        self._record(uow, actor, AuthEventType.ROLE_CHANGED, user, reason=role)

    def disable_user(
        self,
        uow: UnitOfWork,
        actor: Actor,
        user: User,
        *,
        reason: str | None = None,
        until: datetime | None = None,
    ) -> int:
        """Disable and revoke every session; returns how many were revoked. With
        `until`, the account comes back by itself after that time."""
        if until is not None and until <= self._clock():
            raise errors.ValidationFailed(
                "The end of a disable must be in the future.",
                errors=[{"field": "until", "message": "Give a later time.", "code": "in_past"}],
            )
        with admin_kept(uow, user, self._clock()):
            revoked = deactivate_user(uow.session, user, self._clock(), reason=reason, until=until)
        self._record(uow, actor, AuthEventType.USER_DISABLED, user)
        return revoked

    def enable_user(self, uow: UnitOfWork, actor: Actor, user: User) -> None:
        users.set_active(uow.session, user, active=True)
        self._record(uow, actor, AuthEventType.USER_ENABLED, user)

    def revoke_sessions(self, uow: UnitOfWork, actor: Actor, user: User) -> int:
        revoked = sessions.revoke_all_for_user(uow.session, user.id, self._clock())
        self._record(uow, actor, AuthEventType.SESSIONS_REVOKED, user)
        return revoked

    def reset_mfa(self, uow: UnitOfWork, actor: Actor, user: User) -> None:
        """Every second factor off, for support once the owner has proved who they are
        some other way (a lost phone and lost recovery codes, or a squatter's factor
        on their address). The password and sessions stay as they are."""
        if not factors.has_any(user):
            raise errors.MfaNotEnabled(f"{user.email} has no second factor to reset")
        factors.remove_all(uow.session, user)
        self._record(uow, actor, AuthEventType.MFA_RESET, user)

    def delete_user(self, uow: UnitOfWork, actor: Actor, user: User) -> None:
        """The same erasure as self-service deletion, audited the same way but for
        the actor: audit rows stay, with the email erased."""
        with admin_kept(uow, user, self._clock()):
            erase_user(uow.session, user)
        audit.record(
            uow.session,
            AuthEventType.ACCOUNT_DELETED,
            actor.client,
            user_id=user.id,
            reason=actor.reason,
            actor_id=actor.user_id,
        )

    def impersonate(self, uow: UnitOfWork, actor: Actor, user: User) -> ImpersonationToken:
        """A session as `user` for the acting admin, audited on both of them. Never
        of an admin (403): an admin's powers are their own to use."""
        if actor.user_id is None:
            raise errors.Forbidden("Only an admin signed in can impersonate.")
        if user.is_admin:
            raise errors.Forbidden("An administrator cannot be impersonated.")
        if user.is_disabled(self._clock()):
            raise errors.UserDisabled("A disabled account cannot be impersonated.")
        issued = self._sessions.impersonate(uow, user, actor.user_id, IMPERSONATION_TTL)
        self._record(uow, actor, AuthEventType.IMPERSONATION_STARTED, user)
        audit.record(
            uow.session,
            AuthEventType.IMPERSONATED,
            actor.client,
            user_id=actor.user_id,
            email=user.email,
            actor_id=actor.user_id,
        )
        return issued

    # -- audit ------------------------------------------------------------------------

    @staticmethod
    def _record(
        uow: UnitOfWork,
        actor: Actor,
        event_type: AuthEventType,
        user: User,
        *,
        reason: str | None = None,
    ) -> None:
        audit.record(
            uow.session,
            event_type,
            actor.client,
            user_id=user.id,
            email=user.email,
            reason=actor.reason or reason,
            actor_id=actor.user_id,
        )


def _encode_cursor(kind: str, key: str, user_id: uuid.UUID) -> str:
    """Where a page of users ended: `k` a search's (key, id), `c` the newest-first
    listing's (created_at, id)."""
    return cursors.encode(kind, user_id.hex, key)


def _decode_cursor(cursor: str, kind: str, key: Callable[[str], KeyT]) -> tuple[KeyT, uuid.UUID]:
    """A cursor of this listing (`kind`), its key read by `key`."""

    def parse(text: str) -> tuple[KeyT, uuid.UUID]:
        found_kind, user_id, raw_key = text.split("|", 2)
        if found_kind != kind or not raw_key or "\x00" in raw_key:
            raise ValueError("a cursor of another listing")
        return key(raw_key), uuid.UUID(hex=user_id)

    return cursors.decode(cursor, parse, "Use a next_cursor value as given, with the same query.")
