"""Signup and every way of logging in: the password (with its second step when the
account has a factor on) and the OAuth2 password grant. A success ends in
SessionService.issue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from authapi import errors
from authapi.models import AuthEventType, MailKind, User
from authapi.models.base import utcnow
from authapi.repositories import users
from authapi.security import PasswordHasher
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import AccountThrottle, begin_attempt
from authapi.services.mail import MailService
from authapi.services.mfa import MfaChallenge, MfaService
from authapi.services.passkeys import Ceremony, PasskeyService
from authapi.services.passwords import require_strong
from authapi.services.sessions import IssuedToken, SessionService
from authapi.unit_of_work import UnitOfWork


class LoginService:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        throttle: AccountThrottle,
        mail: MailService,
        mfa: MfaService,
        passkeys: PasskeyService,
        sessions: SessionService,
        require_verified_email: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._hasher = hasher
        self._throttle = throttle
        self._mail = mail
        self._mfa = mfa
        self._passkeys = passkeys
        self._sessions = sessions
        self._require_verified_email = require_verified_email
        self._clock = clock

    def signup(
        self, uow: UnitOfWork, email: str, password: str, name: str | None, client: ClientInfo
    ) -> tuple[User, IssuedToken] | None:
        """The new user and a first token, a verification link mailed.

        With REQUIRE_VERIFIED_EMAIL the answer is None whether or not the address was
        free, after the same work (one bcrypt hash, one queued mail): a new address
        gets its verification link, a taken one a notice to its owner, and the caller
        learns nothing about who has an account (no token before the address is
        proven anyway). Without it, a taken address is 409 email_taken: an SPA needs
        to say so, and the address is told to whoever tries."""
        require_strong(password, email)
        existing = users.get_by_email(uow.session, email)
        if existing is not None and not self._require_verified_email:
            raise errors.EmailTaken
        uow.end_reads()
        password_hash = self._hasher.hash(password)  # for a taken address too: same time
        if existing is not None:
            self._signup_attempted(uow, existing, client)
            return None
        user = User(email=email, name=name, password_hash=password_hash)
        try:
            users.add(uow.session, user)
        except users.EmailAlreadyStored:  # lost a race with a concurrent signup
            if not self._require_verified_email:
                raise errors.EmailTaken from None
            winner = users.get_by_email(uow.session, email)
            if winner is not None:
                self._signup_attempted(uow, winner, client)
            return None
        audit.record(uow.session, AuthEventType.SIGNUP, client, user_id=user.id, email=email)
        self._mail.queue_link(uow, MailKind.VERIFY_EMAIL, user.id, email, client.requester)
        if self._require_verified_email:
            return None
        return user, self._sessions.issue(uow, user, client)

    def _signup_attempted(self, uow: UnitOfWork, owner: User, client: ClientInfo) -> None:
        audit.record(
            uow.session,
            AuthEventType.SIGNUP_ATTEMPTED,
            client,
            user_id=owner.id,
            email=owner.email,
        )
        self._mail.queue_signup_attempt_notice(uow, owner, client.requester)

    def login(
        self, uow: UnitOfWork, email: str, password: str, client: ClientInfo
    ) -> IssuedToken | MfaChallenge:
        """Tokens, or for an account with the second factor on an mfa_token to take
        with a code to `verify_mfa`."""
        user = self._check_password(uow, email, password, client)
        self._rehash_if_needed(uow, user, password, client)
        if user.has_second_factor:
            return self._mfa.challenge(uow, user)
        return self._logged_in(uow, user, client)

    def password_grant(
        self, uow: UnitOfWork, email: str, password: str, client: ClientInfo
    ) -> IssuedToken:
        """The OAuth2 password grant has no second step: accounts with the factor on
        are refused (403 mfa_required), after the password proved right."""
        user = self._check_password(uow, email, password, client)
        if user.has_second_factor:
            self._audit_failure(uow, client, email, user.id, "mfa_required")
            raise errors.MfaRequired
        self._rehash_if_needed(uow, user, password, client)
        return self._logged_in(uow, user, client)

    def verify_mfa(
        self, uow: UnitOfWork, mfa_token: str, code: str, client: ClientInfo
    ) -> IssuedToken:
        """The second step: a good mfa_token and code end the login like a password."""
        user, method = self._mfa.verify_login(uow, mfa_token, code, client)
        return self._logged_in(uow, user, client, reason=method)

    def verify_mfa_passkey(
        self,
        uow: UnitOfWork,
        mfa_token: str,
        ceremony: str,
        credential: dict[str, Any],
        client: ClientInfo,
    ) -> IssuedToken:
        """The second step answered with a passkey of the account."""
        link, user = self._mfa.pending(uow, mfa_token, client)
        self._passkeys.second_step(uow, user, ceremony, credential, client)
        self._mfa.spend(uow, link)
        return self._logged_in(uow, user, client, reason="passkey")

    def passkey_step_options(self, uow: UnitOfWork, mfa_token: str, client: ClientInfo) -> Ceremony:
        """Options for answering the second step with a passkey."""
        _link, user = self._mfa.pending(uow, mfa_token, client)
        return self._passkeys.mfa_options(uow, user)

    def passkey(
        self, uow: UnitOfWork, ceremony: str, credential: dict[str, Any], client: ClientInfo
    ) -> IssuedToken:
        """A passkey sign-in: no password, and no second step (a user-verified passkey
        is something the user has and something they are or know)."""
        user = self._passkeys.sign_in(uow, ceremony, credential, client)
        if self._require_verified_email and user.email_verified_at is None:
            self._audit_failure(uow, client, user.email, user.id, "email_not_verified")
            raise errors.EmailNotVerified
        return self._logged_in(uow, user, client, reason="passkey")

    def social(self, uow: UnitOfWork, user: User, client: ClientInfo) -> IssuedToken | MfaChallenge:
        """The end of a social sign-in (OAuthService.exchange found the user)."""
        return self.first_factor(uow, user, client, "oauth")

    def first_factor(
        self, uow: UnitOfWork, user: User, client: ClientInfo, reason: str
    ) -> IssuedToken | MfaChallenge:
        """A first factor other than the password proved (a provider, an email
        sign-in): the second factor is asked for exactly as after a password."""
        if user.has_second_factor:
            return self._mfa.challenge(uow, user)
        return self._logged_in(uow, user, client, reason=reason)

    def _check_password(
        self, uow: UnitOfWork, email: str, password: str, client: ClientInfo
    ) -> User:
        """The user whose password this is, or the refusal (nothing written)."""
        attempt = begin_attempt(uow, self._throttle, email, client)
        user = users.get_by_email(uow.session, email)
        uow.end_reads()
        # Every path verifies one bcrypt hash, so response time does not tell an
        # unknown email from a wrong password or a disabled account.
        if user is None:
            self._hasher.burn_time(password)
            raise self._failed(uow, client, email, None, "unknown_email")
        if not self._hasher.verify(password, user.password_hash):
            raise self._failed(uow, client, email, user.id, "bad_password")
        if user.is_disabled(self._clock()):
            raise self._failed(uow, client, email, user.id, "disabled")
        attempt.succeeded()
        # Only after the password proved right: the 403 tells nothing to a guesser.
        if self._require_verified_email and user.email_verified_at is None:
            self._audit_failure(uow, client, email, user.id, "email_not_verified")
            raise errors.EmailNotVerified
        return user

    def _rehash_if_needed(
        self, uow: UnitOfWork, user: User, password: str, client: ClientInfo
    ) -> None:
        if self._hasher.needs_rehash(user.password_hash):
            new_hash = self._hasher.hash(password)
            self._unchanged_since_read(uow, user, client, password_hash=new_hash)

    def _logged_in(
        self, uow: UnitOfWork, user: User, client: ClientInfo, reason: str | None = None
    ) -> IssuedToken:
        self._unchanged_since_read(uow, user, client, last_login_at=self._clock())
        audit.record(
            uow.session,
            AuthEventType.LOGIN_SUCCESS,
            client,
            user_id=user.id,
            email=user.email,
            reason=reason,
        )
        return self._sessions.issue(uow, user, client)

    def _unchanged_since_read(
        self, uow: UnitOfWork, user: User, client: ClientInfo, **values: Any
    ) -> None:
        """Write `values` if the password and the account are as the login read them.
        A password changed or an account disabled while the login was hashing ends
        it with the one 401: it must not leave a session that outlived the change's
        "log out everywhere"."""
        if not users.update_if_unchanged(uow.session, user, **values):
            self._audit_failure(uow, client, user.email, user.id, "changed_while_hashing")
            raise errors.InvalidCredentials

    def _failed(
        self,
        uow: UnitOfWork,
        client: ClientInfo,
        email: str,
        user_id: uuid.UUID | None,
        reason: str,
    ) -> errors.InvalidCredentials:
        """Audit the failure (its attempt stays counted in the throttle) and return the
        one answer all failures get."""
        self._audit_failure(uow, client, email, user_id, reason)
        return errors.InvalidCredentials()

    @staticmethod
    def _audit_failure(
        uow: UnitOfWork, client: ClientInfo, email: str, user_id: uuid.UUID | None, reason: str
    ) -> None:
        """A refused login's row, kept apart from the request (which is rolled back).
        Refusals after a right password are audited but not throttled."""
        uow.keep(
            audit.failure(
                AuthEventType.LOGIN_FAILURE, client, user_id=user_id, email=email, reason=reason
            )
        )
