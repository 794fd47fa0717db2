"""Administration of accounts by an operator (`python -m authapi users ...`).

Every change is audited with the shell as the actor: the row's user agent is
`authapi-cli`, its reason `shell`, and it has no IP address or request id. Like the
other services, these never commit: the shell's unit of work holds one transaction
per command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from authapi import errors
from authapi.models import AuthEventType, Identity, Passkey, User
from authapi.models.base import utcnow
from authapi.repositories import identities, passkeys, sessions, users
from authapi.security import PasswordHasher
from authapi.services import audit, factors
from authapi.services.account import erase_user
from authapi.services.audit import ClientInfo
from authapi.services.passwords import require_strong
from authapi.services.sessions import deactivate_user
from authapi.unit_of_work import UnitOfWork

SHELL = ClientInfo(ip_address=None, user_agent="authapi-cli", request_id=None)
SHELL_REASON = "shell"


@dataclass(frozen=True, slots=True)
class UserDetail:
    user: User
    active_sessions: int
    identities: Sequence[Identity]  # the provider accounts that sign in to it
    passkeys: Sequence[Passkey]


class AdminService:
    def __init__(self, *, hasher: PasswordHasher, clock: Callable[[], datetime] = utcnow) -> None:
        self._hasher = hasher
        self._clock = clock

    def list_users(self, uow: UnitOfWork, limit: int, email_contains: str | None) -> list[User]:
        return users.list_newest(uow.session, limit, email_contains)

    def show_user(self, uow: UnitOfWork, email: str) -> UserDetail:
        user = self._user(uow, email)
        return UserDetail(
            user,
            sessions.count_active(uow.session, user.id, self._clock()),
            identities.list_for_user(uow.session, user.id),
            passkeys.list_for_user(uow.session, user.id),
        )

    def create_user(
        self,
        uow: UnitOfWork,
        email: str,
        password: str,
        name: str | None,
        *,
        verified: bool = False,
    ) -> User:
        """Like signup under the same rules, but no token, no session and no mail:
        `verified` vouches for the address instead of a verification link."""
        require_strong(password, email)
        if users.get_by_email(uow.session, email) is not None:
            raise errors.EmailTaken(f"an account with the email {email} already exists")
        user = User(
            email=email,
            name=name,
            password_hash=self._hasher.hash(password),
            email_verified_at=self._clock() if verified else None,
        )
        try:
            users.add(uow.session, user)
        except users.EmailAlreadyStored:  # lost a race with a concurrent signup
            raise errors.EmailTaken from None
        self._record(uow, AuthEventType.USER_CREATED, user)
        return user

    def disable_user(self, uow: UnitOfWork, email: str) -> int:
        """Disable and revoke every session; returns the number of sessions revoked."""
        user = self._user(uow, email)
        revoked = deactivate_user(uow.session, user, self._clock())
        self._record(uow, AuthEventType.USER_DISABLED, user)
        return revoked

    def enable_user(self, uow: UnitOfWork, email: str) -> None:
        user = self._user(uow, email)
        users.set_active(uow.session, user, active=True)
        self._record(uow, AuthEventType.USER_ENABLED, user)

    def revoke_sessions(self, uow: UnitOfWork, email: str) -> int:
        user = self._user(uow, email)
        revoked = sessions.revoke_all_for_user(uow.session, user.id, self._clock())
        self._record(uow, AuthEventType.SESSIONS_REVOKED, user)
        return revoked

    def reset_mfa(self, uow: UnitOfWork, email: str) -> None:
        """Every second factor off, for support once the owner has proved who they are
        some other way (a lost phone and lost recovery codes, or a squatter's factor
        on their address). The password and sessions stay as they are."""
        user = self._user(uow, email)
        if not factors.has_any(user):
            raise errors.MfaNotEnabled(f"{user.email} has no second factor to reset")
        factors.remove_all(uow.session, user)
        self._record(uow, AuthEventType.MFA_RESET, user)

    def delete_user(self, uow: UnitOfWork, email: str) -> None:
        """The same erasure as self-service deletion, audited the same way but for
        the actor: audit rows stay, with the email erased."""
        user = self._user(uow, email)
        erase_user(uow.session, user)
        audit.record(
            uow.session,
            AuthEventType.ACCOUNT_DELETED,
            SHELL,
            user_id=user.id,
            reason=SHELL_REASON,
        )

    @staticmethod
    def _user(uow: UnitOfWork, email: str) -> User:
        """`email` as the caller normalised it (schemas.common.canonical_email), the
        one form signup stores: no second normaliser here to drift from it."""
        user = users.get_by_email(uow.session, email)
        if user is None:
            raise errors.NotFound(f"no user with the email {email.strip()!r}")
        return user

    @staticmethod
    def _record(uow: UnitOfWork, event_type: AuthEventType, user: User) -> None:
        audit.record(
            uow.session, event_type, SHELL, user_id=user.id, email=user.email, reason=SHELL_REASON
        )
