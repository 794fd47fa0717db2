"""Signup, login, token checks, logout: the rules of authentication."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from authapi import errors
from authapi.db import end_reads
from authapi.models import AuthEventType, AuthSession, MailKind, RefreshToken, User
from authapi.models.base import utcnow
from authapi.repositories import refresh_tokens, sessions, users
from authapi.repositories.sessions import UserSnapshot
from authapi.security import (
    PasswordHasher,
    TokenConfig,
    TokenError,
    TokenExpiredError,
    decode_access_token,
    encode_access_token,
    hash_token,
    new_refresh_token,
    successor_refresh_token,
)
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.mail import MailService
from authapi.services.passwords import password_problems
from authapi.services.pending import void_pending
from authapi.services.throttle import LoginThrottle, begin_attempt

if TYPE_CHECKING:  # services.mfa imports this module
    from authapi.services.mfa import MfaChallenge, MfaService


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user: User
    refresh_token: str
    refresh_expires_in: int


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives and how its refresh tokens rotate."""

    ttl: timedelta = timedelta(days=30)
    # A retired refresh token presented again within this gets the same successor
    # (two tabs refreshing at once); later, it is a stolen token.
    reuse_interval: timedelta = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a protected endpoint: the user and the session of their token."""

    user: UserSnapshot
    session_id: uuid.UUID


def deactivate_user(session: Session, user: User, now: datetime) -> int:
    """Disable the account and revoke every session, so that no token of the user keeps
    working; returns how many sessions were revoked. Shared by AuthService and
    `python -m authapi users disable`."""
    void_pending(session, user.id)  # first: see its docstring
    users.set_active(session, user, active=False)
    return sessions.revoke_all_for_user(session, user.id, now)


class AuthService:
    def __init__(
        self,
        *,
        engine: Engine,
        hasher: PasswordHasher,
        tokens: TokenConfig,
        throttle: LoginThrottle,
        mail: MailService,
        mfa: MfaService,
        require_verified_email: bool = False,
        sessions_policy: SessionPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._owner_query = sessions.SessionOwnerQuery(engine.dialect)
        self._policy = sessions_policy or SessionPolicy()
        # Successor refresh tokens are derived with a key of their own from the secret.
        self._refresh_key = hashlib.sha256(b"authapi refresh " + tokens.secret.encode()).digest()
        self._mail = mail
        self._mfa = mfa
        self._require_verified_email = require_verified_email
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._clock = clock

    # -- signup and login -------------------------------------------------------

    def signup(
        self, session: Session, email: str, password: str, name: str | None, client: ClientInfo
    ) -> tuple[User, IssuedToken | None]:
        """The new user, and a first token unless REQUIRE_VERIFIED_EMAIL holds it back
        until the address is confirmed. A verification link is mailed either way."""
        problems = password_problems(password, email)
        if problems:
            raise errors.WeakPassword(errors=problems)
        if users.get_by_email(session, email) is not None:
            raise errors.EmailTaken
        end_reads(session)
        user = User(email=email, name=name, password_hash=self._hasher.hash(password))
        try:
            users.add(session, user)
        except users.EmailAlreadyStored:  # lost a race with a concurrent signup
            raise errors.EmailTaken from None
        audit.record(session, AuthEventType.SIGNUP, client, user_id=user.id, email=email)
        self._mail.queue_link(session, MailKind.VERIFY_EMAIL, user.id, email, client.requester)
        if self._require_verified_email:
            return user, None
        return user, self._issue(session, user, client)

    def login(
        self, session: Session, email: str, password: str, client: ClientInfo
    ) -> IssuedToken | MfaChallenge:
        """Tokens, or for an account with the second factor on an mfa_token to take
        with a code to `verify_mfa`."""
        user = self._check_password(session, email, password, client)
        self._rehash_if_needed(session, user, password, client)
        if user.mfa_enabled:
            return self._mfa.challenge(session, user)
        return self._logged_in(session, user, client)

    def password_grant(
        self, session: Session, email: str, password: str, client: ClientInfo
    ) -> IssuedToken:
        """The OAuth2 password grant has no second step: accounts with the factor on
        are refused (403 mfa_required), after the password proved right."""
        user = self._check_password(session, email, password, client)
        if user.mfa_enabled:
            self._audit_login_failure(client, email, user.id, "mfa_required")
            raise errors.MfaRequired
        self._rehash_if_needed(session, user, password, client)
        return self._logged_in(session, user, client)

    def verify_mfa(
        self, session: Session, mfa_token: str, code: str, client: ClientInfo
    ) -> IssuedToken:
        """The second step: a good mfa_token and code end the login like a password."""
        user, method = self._mfa.verify_login(session, mfa_token, code, client)
        return self._logged_in(session, user, client, reason=method)

    def _check_password(
        self, session: Session, email: str, password: str, client: ClientInfo
    ) -> User:
        """The user whose password this is, or the refusal (nothing written)."""
        attempt = begin_attempt(self._engine, self._throttle, email, client)
        user = users.get_by_email(session, email)
        end_reads(session)
        # Every path verifies one bcrypt hash, so response time does not tell an
        # unknown email from a wrong password or a disabled account.
        if user is None:
            self._hasher.burn_time(password)
            raise self._login_failed(client, email, None, "unknown_email")
        if not self._hasher.verify(password, user.password_hash):
            raise self._login_failed(client, email, user.id, "bad_password")
        if not user.is_active:
            raise self._login_failed(client, email, user.id, "disabled")
        attempt.succeeded()
        # Only after the password proved right: the 403 tells nothing to a guesser.
        if self._require_verified_email and user.email_verified_at is None:
            self._audit_login_failure(client, email, user.id, "email_not_verified")
            raise errors.EmailNotVerified
        return user

    def _rehash_if_needed(
        self, session: Session, user: User, password: str, client: ClientInfo
    ) -> None:
        """After every refusal: a failure's audit row is written in a transaction of
        its own, which on SQLite would wait for this write's lock."""
        if self._hasher.needs_rehash(user.password_hash):
            new_hash = self._hasher.hash(password)
            self._unchanged_since_read(session, user, client, password_hash=new_hash)

    def _logged_in(
        self, session: Session, user: User, client: ClientInfo, reason: str | None = None
    ) -> IssuedToken:
        self._unchanged_since_read(session, user, client, last_login_at=self._clock())
        audit.record(
            session,
            AuthEventType.LOGIN_SUCCESS,
            client,
            user_id=user.id,
            email=user.email,
            reason=reason,
        )
        return self._issue(session, user, client)

    def _unchanged_since_read(
        self, session: Session, user: User, client: ClientInfo, **values: Any
    ) -> None:
        """Write `values` if the password and the account are as the login read them.
        A password changed or an account disabled while the login was hashing ends
        it with the one 401: it must not leave a session that outlived the change's
        "log out everywhere"."""
        if not users.update_if_unchanged(session, user, **values):
            email, user_id = user.email, user.id
            # The audit row has a transaction of its own: on SQLite it would wait for
            # the write lock this request took with its UPDATE.
            session.rollback()
            self._audit_login_failure(client, email, user_id, "changed_while_hashing")
            raise errors.InvalidCredentials

    def _login_failed(
        self, client: ClientInfo, email: str, user_id: uuid.UUID | None, reason: str
    ) -> errors.InvalidCredentials:
        """Audit the failure (its attempt stays counted in the throttle) and return the
        one answer all failures get."""
        self._audit_login_failure(client, email, user_id, reason)
        return errors.InvalidCredentials()

    def _audit_login_failure(
        self, client: ClientInfo, email: str, user_id: uuid.UUID | None, reason: str
    ) -> None:
        """A refused login's row, in a transaction of its own (the request's is rolled
        back). Refusals after a right password are audited but not throttled."""
        audit.record_failure(
            self._engine,
            AuthEventType.LOGIN_FAILURE,
            client,
            user_id=user_id,
            email=email,
            reason=reason,
        )

    def _issue(self, session: Session, user: User, client: ClientInfo) -> IssuedToken:
        """A new session with its first access and refresh tokens."""
        now = self._clock()
        auth_session = AuthSession(
            user_id=user.id,
            created_at=now,
            expires_at=now + self._policy.ttl,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
        )
        sessions.add(session, auth_session)
        refresh_token = new_refresh_token()
        refresh_tokens.add(
            session,
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
            self._tokens, user.id, session_id, now, not_after=session_ends
        )
        return IssuedToken(
            access_token=token,
            expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
            user=user,
            refresh_token=refresh_token,
            refresh_expires_in=max(0, int((session_ends - now).total_seconds())),
        )

    # -- refresh --------------------------------------------------------------------

    def refresh(self, session: Session, token: str, client: ClientInfo) -> IssuedToken:
        """Rotate: a new access token and the refresh token's successor (RFC 9700,
        4.14.2). A retired token presented again after the reuse interval means two
        parties hold it; the session ends for both."""
        now = self._clock()
        found = refresh_tokens.find(session, hash_token(token))
        if found is None:
            self._reject_token(client, None, "unknown_refresh_token")
            raise errors.TokenInvalid("The refresh token is invalid.")
        if found.revoked_at is not None or not found.user_active:
            self._reject_token(client, found.user_id, "revoked")
            raise errors.TokenRevoked("The session has ended; log in again.")
        if found.expires_at <= now:
            self._reject_token(client, found.user_id, "expired")
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
            self._end_stolen_session(found.session_id, found.user_id, client)
            raise errors.TokenRevoked("The refresh token was used before; log in again.")

        user = users.get_by_id(session, found.user_id)
        if user is None:  # deleted meanwhile
            raise errors.TokenInvalid("The refresh token is invalid.")
        audit.record(session, AuthEventType.TOKEN_REFRESHED, client, user_id=user.id)
        return self._tokens_for(user, found.session_id, found.expires_at, successor, now)

    def _end_stolen_session(
        self, session_id: uuid.UUID, user_id: uuid.UUID, client: ClientInfo
    ) -> None:
        """Revoke in a transaction of its own: the request fails, the revocation stays."""
        with Session(self._engine) as own:
            sessions.revoke(own, session_id, self._clock())
            audit.record(own, AuthEventType.REFRESH_TOKEN_REUSED, client, user_id=user_id)
            own.commit()

    # -- protected requests -----------------------------------------------------

    def authenticate(
        self, connection: Connection, token: str | None, client: Callable[[], ClientInfo]
    ) -> Principal:
        """Trust a token only if it verifies and its session row is live. `client`
        describes the caller for the audit row of a rejection, and only then.

        Revocation is keyed on the session id inside the signed token, never on the
        token string, so a re-encoded token (e.g. with "=" appended) is revoked too.
        """
        if not token:
            raise errors.TokenMissing
        try:
            claims = decode_access_token(self._tokens, token)
        except TokenExpiredError:
            self._reject_token(client(), None, "expired")
            raise errors.TokenExpired from None
        except TokenError:
            self._reject_token(client(), None, "invalid")
            raise errors.TokenInvalid from None

        found = self._owner_query.run(connection, claims.session_id)
        if found is None or found.user.id != claims.user_id:
            self._reject_token(client(), claims.user_id if found else None, "unknown_session")
            raise errors.TokenInvalid
        auth_session, user = found, found.user
        if auth_session.revoked_at is not None:
            self._reject_token(client(), user.id, "revoked")
            raise errors.TokenRevoked
        if not user.is_active:
            self._reject_token(client(), user.id, "disabled")
            raise errors.TokenRevoked
        if auth_session.expires_at <= self._clock():
            self._reject_token(client(), user.id, "expired")
            raise errors.TokenExpired
        return Principal(user=user, session_id=auth_session.session_id)

    def _reject_token(self, client: ClientInfo, user_id: uuid.UUID | None, reason: str) -> None:
        audit.record_failure(
            self._engine, AuthEventType.TOKEN_REJECTED, client, user_id=user_id, reason=reason
        )

    def logout(self, session: Session, principal: Principal, client: ClientInfo) -> None:
        sessions.revoke(session, principal.session_id, self._clock())
        audit.record(
            session,
            AuthEventType.LOGOUT,
            client,
            user_id=principal.user.id,
            email=principal.user.email,
        )

    def logout_all(self, session: Session, principal: Principal, client: ClientInfo) -> None:
        """Every session ends, and every link or challenge still out: whoever made the
        user log out everywhere must not come back through a pending email change."""
        void_pending(session, principal.user.id)  # first: see its docstring
        sessions.revoke_all_for_user(session, principal.user.id, self._clock())
        audit.record(
            session,
            AuthEventType.LOGOUT_ALL,
            client,
            user_id=principal.user.id,
            email=principal.user.email,
        )

    def disable_user(self, session: Session, user: User) -> None:
        """Disabling revokes every session, so no token of the user keeps working."""
        deactivate_user(session, user, self._clock())

    def active_sessions(
        self, session: Session, principal: Principal
    ) -> list[tuple[AuthSession, bool]]:
        rows = sessions.list_active(session, principal.user.id, self._clock())
        return [(row, row.id == principal.session_id) for row in rows]
