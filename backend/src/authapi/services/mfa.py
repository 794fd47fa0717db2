"""The second factor: TOTP enrolment, recovery codes, and the second step of a login.

A login of an account with the factor on stops after the password with an
`mfa_token` (a one-time link row of purpose `mfa_login`, stored by hash); the
session is issued by LoginService only after `verify_login` accepted a code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from authapi import errors, otp
from authapi.models import AuthEventType, Link, LinkPurpose, User
from authapi.models.base import utcnow
from authapi.otp import SecretBox, SecretUnreadable
from authapi.repositories import links, recovery_codes, users
from authapi.security import hash_token, new_link_token
from authapi.services import audit, factors
from authapi.services.audit import ClientInfo
from authapi.services.common import PasswordCheck, Principal, begin_attempt, load_user
from authapi.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """What a correct password gets when the account has the factor on."""

    mfa_token: str
    expires_in: int
    methods: list[str]  # what the second step may answer with


class MfaService:
    def __init__(
        self,
        *,
        passwords: PasswordCheck,
        box: SecretBox,
        issuer: str,
        token_ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._passwords = passwords
        self._throttle = passwords.throttle
        self._box = box
        self._issuer = issuer
        self._token_ttl = token_ttl
        self._clock = clock

    # -- enrolment (logged in) ---------------------------------------------------------

    def setup(
        self, uow: UnitOfWork, principal: Principal, password: str, client: ClientInfo
    ) -> TotpEnrolment:
        """A new pending secret (replacing a pending one); the factor is on only once a
        code of it is confirmed, so a user who never scans it is not locked out."""
        user = load_user(uow, principal)
        if user.mfa_enabled:
            raise errors.MfaAlreadyEnabled
        self._passwords.confirm(uow, user, password, client)
        secret = otp.new_secret()
        users.set_totp(uow.session, user, sealed_secret=self._box.seal(secret), enabled=False)
        return TotpEnrolment(secret, otp.otpauth_uri(secret, user.email, self._issuer))

    def confirm(
        self, uow: UnitOfWork, principal: Principal, code: str, client: ClientInfo
    ) -> list[str]:
        """Turn the factor on with a code of the pending secret; returns the recovery
        codes, the only time they are ever shown."""
        user = load_user(uow, principal)
        if user.mfa_enabled:
            raise errors.MfaAlreadyEnabled
        if user.totp_secret is None:
            raise errors.MfaNotEnabled("No setup is pending: start at /auth/mfa/totp/setup.")
        self._check_code(uow, user, code, client, recovery=False)
        # Allowed on an unverified address (unverified users are full users without
        # REQUIRE_VERIFIED_EMAIL), but remembered: see factors.remove_unproven.
        users.set_totp(
            uow.session,
            user,
            sealed_secret=user.totp_secret,
            enabled=True,
            enrolled_unverified=user.email_verified_at is None,
        )
        codes = self._new_recovery_codes(uow, user)
        audit.record(
            uow.session, AuthEventType.MFA_ENABLED, client, user_id=user.id, email=user.email
        )
        return codes

    def disable(
        self, uow: UnitOfWork, principal: Principal, password: str, code: str, client: ClientInfo
    ) -> None:
        """Off, with the password and a code (or a recovery code: the phone may be lost)."""
        user = self._enabled_user(uow, principal)
        self._passwords.confirm(uow, user, password, client)
        self._check_code(uow, user, code, client)
        factors.remove_totp(uow.session, user)
        audit.record(
            uow.session, AuthEventType.MFA_DISABLED, client, user_id=user.id, email=user.email
        )

    def regenerate_recovery_codes(
        self, uow: UnitOfWork, principal: Principal, password: str, code: str, client: ClientInfo
    ) -> list[str]:
        user = self._enabled_user(uow, principal)
        self._passwords.confirm(uow, user, password, client)
        self._check_code(uow, user, code, client)
        codes = self._new_recovery_codes(uow, user)
        audit.record(
            uow.session,
            AuthEventType.MFA_RECOVERY_CODES_REGENERATED,
            client,
            user_id=user.id,
            email=user.email,
        )
        return codes

    # -- the two-step login ------------------------------------------------------------

    def challenge(self, uow: UnitOfWork, user: User) -> MfaChallenge:
        """The mfa_token for a user whose first step (password, provider) was right."""
        token, token_hash = new_link_token()
        links.add(
            uow.session,
            Link(
                user_id=user.id,
                purpose=LinkPurpose.MFA_LOGIN.value,
                token_hash=token_hash,
                email=user.email,
                expires_at=self._clock() + self._token_ttl,
            ),
        )
        methods = ["totp", "recovery_code"] if user.mfa_enabled else []
        if user.passkey_count > 0:
            methods.append("passkey")
        return MfaChallenge(token, int(self._token_ttl.total_seconds()), methods)

    def verify_login(
        self, uow: UnitOfWork, mfa_token: str, code: str, client: ClientInfo
    ) -> tuple[User, str]:
        """The user of a good mfa_token with a good code, and how they proved it
        (`totp` or `recovery_code`). The token is spent only on success: a mistyped
        code can be retried, and every wrong one counts in the per-account throttle."""
        link, user = self.pending(uow, mfa_token, client)
        if not user.mfa_enabled:  # a passkey-only account: no code is its factor
            raise errors.InvalidCode("This account answers with a passkey, not a code.")
        method = self._check_code(uow, user, code, client)
        self.spend(uow, link)
        return user, method

    def pending(self, uow: UnitOfWork, mfa_token: str, client: ClientInfo) -> tuple[Link, User]:
        """The live mfa_token's link and user, or 401 token_invalid (audited)."""
        link = links.find_usable(
            uow.session, hash_token(mfa_token), [LinkPurpose.MFA_LOGIN], self._clock()
        )
        user = users.get_by_id(uow.session, link.user_id) if link is not None else None
        if (
            link is None
            or user is None
            or user.is_disabled(self._clock())
            or not user.has_second_factor
            or link.email != user.email
        ):
            uow.keep(
                audit.failure(
                    AuthEventType.TOKEN_REJECTED,
                    client,
                    user_id=user.id if user is not None else None,
                    reason="mfa_token",
                )
            )
            raise errors.TokenInvalid("The mfa_token is invalid or has expired; log in again.")
        return link, user

    def spend(self, uow: UnitOfWork, link: Link) -> None:
        if not links.consume(uow.session, link.id, self._clock()):  # a concurrent verify won
            raise errors.TokenInvalid("The mfa_token is invalid or has expired; log in again.")

    # -- helpers -----------------------------------------------------------------------

    def _check_code(
        self, uow: UnitOfWork, user: User, code: str, client: ClientInfo, *, recovery: bool = True
    ) -> str:
        """Accept a TOTP code never accepted before (nor one older than the last), or
        spend an unused recovery code; else refuse (the attempt stays counted)."""
        attempt = begin_attempt(uow, self._throttle, user.email, client, user.id)
        if otp.is_totp_code(code):
            step = otp.matching_step(self._secret(user), code, self._clock())
            if step is not None and users.advance_totp_step(uow.session, user.id, step):
                attempt.succeeded()
                return "totp"
        elif recovery and recovery_codes.consume(
            uow.session, user.id, otp.hash_recovery_code(code)
        ):
            attempt.succeeded()
            audit.record(
                uow.session,
                AuthEventType.MFA_RECOVERY_CODE_USED,
                client,
                user_id=user.id,
                email=user.email,
            )
            return "recovery_code"
        uow.keep(
            audit.failure(
                AuthEventType.MFA_FAILED,
                client,
                user_id=user.id,
                email=user.email,
                reason="totp" if otp.is_totp_code(code) else "recovery_code",
            )
        )
        raise errors.InvalidCode

    def _secret(self, user: User) -> str:
        if user.totp_secret is None:  # the factor went off meanwhile
            raise errors.InvalidCode
        try:
            return self._box.open(user.totp_secret)
        except SecretUnreadable:
            # MFA_ENCRYPTION_KEY changed: an operator's mistake, not the user's.
            logger.error("a TOTP secret does not decrypt with MFA_ENCRYPTION_KEY")
            raise errors.ServiceUnavailable from None

    def _new_recovery_codes(self, uow: UnitOfWork, user: User) -> list[str]:
        codes = otp.new_recovery_codes()
        recovery_codes.replace(uow.session, user.id, [otp.hash_recovery_code(c) for c in codes])
        return codes

    @staticmethod
    def _enabled_user(uow: UnitOfWork, principal: Principal) -> User:
        user = load_user(uow, principal)
        if not user.mfa_enabled:
            raise errors.MfaNotEnabled
        return user
