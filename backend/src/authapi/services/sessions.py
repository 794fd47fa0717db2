"""Sessions once a login succeeded: issuing one, rotating its refresh token, ending
one or all of them, and listing them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session

from authapi import errors
from authapi.models import AuthEventType, AuthSession, RefreshToken, User
from authapi.models.base import utcnow
from authapi.repositories import refresh_tokens, sessions, users
from authapi.security import (
    TokenConfig,
    encode_access_token,
    hash_token,
    new_refresh_token,
    successor_refresh_token,
)
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal
from authapi.services.pending import void_pending
from authapi.unit_of_work import UnitOfWork


class NewDevices(Protocol):
    """services/devices.NewDeviceNotice: remembers the device of each sign-in."""

    def signed_in(self, uow: UnitOfWork, user: User, client: ClientInfo) -> None: ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user: User
    refresh_token: str
    refresh_expires_in: int


@dataclass(frozen=True, slots=True)
class ImpersonationToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives and how its refresh tokens rotate."""

    ttl: timedelta = timedelta(days=30)
    # A retired refresh token presented again within this gets the same successor
    # (two tabs refreshing at once); later, it is a stolen token.
    reuse_interval: timedelta = timedelta(seconds=10)


def deactivate_user(
    session: Session,
    user: User,
    now: datetime,
    *,
    reason: str | None = None,
    until: datetime | None = None,
) -> int:
    """Disable the account and revoke every session, so that no token of the user keeps
    working; returns how many sessions were revoked. Shared by SessionService and
    the admin service (the API and `python -m authapi users disable`)."""
    void_pending(session, user.id)  # first: see its docstring
    users.set_active(session, user, active=False, reason=reason, until=until)
    return sessions.revoke_all_for_user(session, user.id, now)


class SessionService:
    def __init__(
        self,
        *,
        tokens: TokenConfig,
        policy: SessionPolicy | None = None,
        devices: NewDevices | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._tokens = tokens
        self._policy = policy or SessionPolicy()
        self._devices = devices
        # Successor refresh tokens are derived with a key of their own from the secret.
        self._refresh_key = hashlib.sha256(b"authapi refresh " + tokens.secret.encode()).digest()
        self._clock = clock

    def issue(self, uow: UnitOfWork, user: User, client: ClientInfo) -> IssuedToken:
        """A new session with its first access and refresh tokens: every way of
        signing in ends here, so the new-device notice is asked for here."""
        if self._devices is not None:
            self._devices.signed_in(uow, user, client)
        now = self._clock()
        auth_session = AuthSession(
            user_id=user.id,
            created_at=now,
            expires_at=now + self._policy.ttl,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
        )
        sessions.add(uow.session, auth_session)
        refresh_token = new_refresh_token()
        refresh_tokens.add(
            uow.session,
            RefreshToken(session_id=auth_session.id, token_hash=hash_token(refresh_token)),
        )
        return self._tokens_for(user, auth_session.id, auth_session.expires_at, refresh_token, now)

    def _tokens_for(
        self,
        user: User,
        session_id: uuid.UUID,
        session_ends: datetime,
        refresh_token: str,
        now: datetime,
    ) -> IssuedToken:
        token, claims = encode_access_token(
            self._tokens, user.id, session_id, now, not_after=session_ends, role=user.role
        )
        return IssuedToken(
            access_token=token,
            expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
            user=user,
            refresh_token=refresh_token,
            refresh_expires_in=max(0, int((session_ends - now).total_seconds())),
        )

    def impersonate(
        self, uow: UnitOfWork, user: User, admin_id: uuid.UUID, ttl: timedelta
    ) -> ImpersonationToken:
        """A session of `user` for the admin: marked with them, ending after `ttl`,
        with no refresh token (it cannot outlive its hour) and an access token that
        lasts the session and names the admin (`act`)."""
        now = self._clock()
        auth_session = AuthSession(
            user_id=user.id,
            created_at=now,
            expires_at=now + ttl,
            impersonator_id=admin_id,
        )
        sessions.add(uow.session, auth_session)
        token, claims = encode_access_token(
            self._tokens,
            user.id,
            auth_session.id,
            now,
            not_after=auth_session.expires_at,
            role=user.role,
            actor_id=admin_id,
            ttl=ttl,
        )
        return ImpersonationToken(
            access_token=token,
            expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
        )

    # -- refresh --------------------------------------------------------------------

    def refresh(self, uow: UnitOfWork, token: str, client: ClientInfo) -> IssuedToken:
        """Rotate: a new access token and the refresh token's successor (RFC 9700,
        4.14.2). A retired token presented again after the reuse interval means two
        parties hold it; the session ends for both."""
        now = self._clock()
        session = uow.session
        found = refresh_tokens.find(session, hash_token(token))
        if found is None:
            self._reject(uow, client, None, "unknown_refresh_token")
            raise errors.TokenInvalid("The refresh token is invalid.")
        if found.revoked_at is not None or found.user_disabled(now):
            self._reject(uow, client, found.user_id, "revoked")
            raise errors.TokenRevoked("The session has ended; log in again.")
        if found.expires_at <= now:
            self._reject(uow, client, found.user_id, "expired")
            raise errors.TokenExpired("The session has expired; log in again.")

        successor = successor_refresh_token(self._refresh_key, token)
        used_at = found.used_at
        if used_at is None:
            if refresh_tokens.mark_used(session, found.token_id, now):
                refresh_tokens.add(
                    session,
                    RefreshToken(
                        session_id=found.session_id,
                        token_hash=hash_token(successor),
                        created_at=now,
                    ),
                )
            else:  # a concurrent refresh with the same token won; it made the successor
                used_at = refresh_tokens.used_at(session, found.token_id) or now
        if used_at is not None and now - used_at > self._policy.reuse_interval:
            self._end_stolen_session(uow, found.session_id, found.user_id, client)
            raise errors.TokenRevoked("The refresh token was used before; log in again.")

        user = users.get_by_id(session, found.user_id)
        if user is None:  # deleted meanwhile
            raise errors.TokenInvalid("The refresh token is invalid.")
        audit.record(session, AuthEventType.TOKEN_REFRESHED, client, user_id=user.id)
        return self._tokens_for(user, found.session_id, found.expires_at, successor, now)

    def _end_stolen_session(
        self, uow: UnitOfWork, session_id: uuid.UUID, user_id: uuid.UUID, client: ClientInfo
    ) -> None:
        """Revoke apart from the request: the request fails, the revocation stays."""
        revoked_at = self._clock()

        def revoke(session: Session) -> None:
            sessions.revoke(session, session_id, revoked_at)
            audit.record(session, AuthEventType.REFRESH_TOKEN_REUSED, client, user_id=user_id)

        uow.keep(revoke, best_effort=False)

    def _reject(
        self, uow: UnitOfWork, client: ClientInfo, user_id: uuid.UUID | None, reason: str
    ) -> None:
        uow.keep(
            audit.failure(AuthEventType.TOKEN_REJECTED, client, user_id=user_id, reason=reason)
        )

    # -- ending and listing -----------------------------------------------------------

    def logout(self, uow: UnitOfWork, principal: Principal, client: ClientInfo) -> None:
        sessions.revoke(uow.session, principal.session_id, self._clock())
        audit.record(
            uow.session,
            AuthEventType.LOGOUT,
            client,
            user_id=principal.user.id,
            email=principal.user.email,
        )

    def logout_all(self, uow: UnitOfWork, principal: Principal, client: ClientInfo) -> None:
        """Every session ends, and every link or challenge still out: whoever made the
        user log out everywhere must not come back through a pending email change."""
        void_pending(uow.session, principal.user.id)  # first: see its docstring
        sessions.revoke_all_for_user(uow.session, principal.user.id, self._clock())
        audit.record(
            uow.session,
            AuthEventType.LOGOUT_ALL,
            client,
            user_id=principal.user.id,
            email=principal.user.email,
        )

    def disable_user(self, uow: UnitOfWork, user: User) -> None:
        """Disabling revokes every session, so no token of the user keeps working."""
        deactivate_user(uow.session, user, self._clock())

    def active_sessions(
        self, uow: UnitOfWork, principal: Principal
    ) -> list[tuple[AuthSession, bool]]:
        rows = sessions.list_active(uow.session, principal.user.id, self._clock())
        return [(row, row.id == principal.session_id) for row in rows]
