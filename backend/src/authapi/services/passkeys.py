"""Passkeys (WebAuthn): registering one while logged in, signing in with one and no
password, and a passkey as the second step of a login.

Every ceremony is a row of its own (single use, five minutes, bound to its purpose
and, for register and mfa, to the user), spent before its answer is verified, so a
replayed or raced answer finds it gone. The verification itself is py_webauthn's:
type, challenge, origin, rpIdHash, user present and verified, signature, algorithm.
The signature counter's rule is ours: a non-zero counter that does not grow means a
cloned authenticator, refused and audited `passkey_counter_regressed`.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authapi import errors
from authapi.models import AuthEventType, CeremonyPurpose, Passkey, User, WebAuthnCeremony
from authapi.models.base import utcnow
from authapi.models.passkey import CREDENTIAL_ID_MAX_LENGTH, PASSKEY_NAME_MAX_LENGTH
from authapi.repositories import ceremonies, identities, passkeys, users
from authapi.security import hash_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import PasswordCheck, Principal, load_user
from authapi.services.mail import MailService
from authapi.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

CEREMONY_TTL = timedelta(minutes=5)
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
]
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


@dataclass(frozen=True, slots=True)
class Ceremony:
    """What the client gets: the handle to send back, and the options for the browser."""

    ceremony: str
    options: dict[str, Any]


class PasskeyService:
    def __init__(
        self,
        *,
        rp_id: str,
        rp_name: str,
        origins: Sequence[str],
        passwords: PasswordCheck,
        mail: MailService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origins = list(origins)
        self._passwords = passwords
        self._mail = mail
        self._clock = clock

    # -- registering, while logged in ----------------------------------------------------

    def register_options(
        self, uow: UnitOfWork, principal: Principal, password: str | None, client: ClientInfo
    ) -> Ceremony:
        """Options for `navigator.credentials.create()`. The password again when the
        account has one: a stolen access token must not add a way in."""
        user = load_user(uow, principal)
        if user.password_hash is not None:
            if password is None:
                raise errors.WrongPassword("This account has a password: send it as password.")
            self._passwords.confirm(uow, user, password, client)
        mine = passkeys.list_for_user(uow.session, user.id)
        challenge = secrets.token_bytes(32)
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_id=user.id.bytes,
            user_name=user.email,
            user_display_name=user.name or user.email,
            challenge=challenge,
            timeout=int(CEREMONY_TTL.total_seconds() * 1000),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(passkey) for passkey in mine],
            supported_pub_key_algs=ALGORITHMS,
        )
        handle = self._new_ceremony(uow, CeremonyPurpose.REGISTER, challenge, user.id)
        return Ceremony(handle, json.loads(options_to_json(options)))

    def register(
        self,
        uow: UnitOfWork,
        principal: Principal,
        ceremony: str,
        credential: dict[str, Any],
        name: str | None,
        client: ClientInfo,
    ) -> Passkey:
        spent = self._spend(uow, ceremony, CeremonyPurpose.REGISTER)
        if spent is None or spent.user_id != principal.user.id:
            raise self._invalid(uow, client, principal.user.id, "ceremony")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=spent.challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except Exception as exc:
            logger.info("passkey registration refused: %s", type(exc).__name__)
            raise self._invalid(uow, client, principal.user.id, "registration") from None
        user = load_user(uow, principal)
        passkey = Passkey(
            user_id=user.id,
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=_transports(credential),
            aaguid=verified.aaguid,
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
            enrolled_unverified=user.email_verified_at is None,
            name=(name or "").strip()[:PASSKEY_NAME_MAX_LENGTH] or "Passkey",
        )
        try:
            passkeys.add(uow.session, passkey)
        except passkeys.PasskeyAlreadyStored:
            raise errors.PasskeyExists from None
        user.passkey_count += 1
        users.save(uow.session, user)
        audit.record(
            uow.session, AuthEventType.PASSKEY_ADDED, client, user_id=user.id, email=user.email
        )
        self._mail.queue_passkey_notice(uow, user, passkey.name, added=True)
        return passkey

    # -- the user's passkeys ---------------------------------------------------------

    def list(self, uow: UnitOfWork, principal: Principal) -> Sequence[Passkey]:
        return passkeys.list_for_user(uow.session, principal.user.id)

    def rename(
        self, uow: UnitOfWork, principal: Principal, passkey_id: uuid.UUID, name: str
    ) -> Passkey:
        passkey = self._mine(uow, principal, passkey_id)
        passkey.name = name.strip()[:PASSKEY_NAME_MAX_LENGTH] or passkey.name
        uow.session.add(passkey)
        return passkey

    def delete(
        self, uow: UnitOfWork, principal: Principal, passkey_id: uuid.UUID, client: ClientInfo
    ) -> None:
        """409 last_login_method when it is the only way in: no password, no linked
        identity, no other passkey."""
        passkey = self._mine(uow, principal, passkey_id)
        user = load_user(uow, principal)
        if (
            user.password_hash is None
            and user.passkey_count <= 1
            and identities.count_for_user(uow.session, user.id) == 0
        ):
            raise errors.LastLoginMethod
        passkeys.remove(uow.session, passkey)
        user.passkey_count = max(user.passkey_count - 1, 0)
        users.save(uow.session, user)
        audit.record(
            uow.session,
            AuthEventType.PASSKEY_REMOVED,
            client,
            user_id=user.id,
            email=user.email,
            reason="user",
        )
        self._mail.queue_passkey_notice(uow, user, passkey.name, added=False)

    # -- signing in, and the second step ---------------------------------------------

    def login_options(self, uow: UnitOfWork) -> Ceremony:
        """Options with an empty allow list (discoverable credentials): the answer is
        the same whoever asks, so it tells nothing about which accounts exist."""
        return self._request_options(uow, CeremonyPurpose.LOGIN, None, [])

    def mfa_options(self, uow: UnitOfWork, user: User) -> Ceremony:
        """Options listing this user's passkeys, for the second step of their login."""
        mine = passkeys.list_for_user(uow.session, user.id)
        if not mine:
            raise errors.PasskeyInvalid("This account has no passkey: answer with a code.")
        allowed = [_descriptor(passkey) for passkey in mine]
        return self._request_options(uow, CeremonyPurpose.MFA, user.id, allowed)

    def sign_in(
        self, uow: UnitOfWork, ceremony: str, credential: dict[str, Any], client: ClientInfo
    ) -> User:
        """The user a passkey signs in, with no password: a user-verified passkey is
        two factors. Any failure is the one 401, audited `passkey_failed`."""
        return self._assert(uow, ceremony, CeremonyPurpose.LOGIN, credential, client, None)

    def second_step(
        self,
        uow: UnitOfWork,
        user: User,
        ceremony: str,
        credential: dict[str, Any],
        client: ClientInfo,
    ) -> None:
        """A passkey of this user answered the ceremony of their login's second step."""
        self._assert(uow, ceremony, CeremonyPurpose.MFA, credential, client, user)

    # -- helpers -----------------------------------------------------------------------

    def _assert(
        self,
        uow: UnitOfWork,
        ceremony: str,
        purpose: CeremonyPurpose,
        credential: dict[str, Any],
        client: ClientInfo,
        expected_user: User | None,
    ) -> User:
        def refused(reason: str, user_id: uuid.UUID | None = None) -> errors.AppError:
            self._audit_failure(uow, client, user_id, reason)
            if purpose is CeremonyPurpose.MFA:
                return errors.PasskeyInvalid()
            return errors.PasskeySignInFailed()

        spent = self._spend(uow, ceremony, purpose)
        expected_id = expected_user.id if expected_user is not None else None
        if spent is None or spent.user_id != expected_id:
            raise refused("ceremony", expected_id)
        credential_id = credential.get("id")
        if not isinstance(credential_id, str) or len(credential_id) > CREDENTIAL_ID_MAX_LENGTH:
            raise refused("credential_id", expected_id)
        passkey = passkeys.get_by_credential_id(uow.session, credential_id)
        if passkey is None or (expected_id is not None and passkey.user_id != expected_id):
            raise refused("unknown_credential", expected_id)
        user = expected_user or users.get_by_id(uow.session, passkey.user_id)
        if user is None or user.is_disabled(self._clock()):
            raise refused("disabled", passkey.user_id)
        if not _user_handle_matches(credential, user):
            raise refused("user_handle", user.id)
        try:
            # The counter is checked below, so that a cloned key is told apart.
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=spent.challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except Exception as exc:
            logger.info("passkey assertion refused: %s", type(exc).__name__)
            raise refused("assertion", user.id) from None
        stored = passkey.sign_count
        if (verified.new_sign_count > 0 or stored > 0) and verified.new_sign_count <= stored:
            uow.keep(
                audit.failure(
                    AuthEventType.PASSKEY_COUNTER_REGRESSED,
                    client,
                    user_id=user.id,
                    email=user.email,
                    reason=f"{verified.new_sign_count}<={stored}",
                )
            )
            raise refused("counter", user.id)
        if not passkeys.record_use(
            uow.session, passkey, stored, verified.new_sign_count, self._clock()
        ):
            raise refused("raced", user.id)
        audit.record(
            uow.session,
            AuthEventType.PASSKEY_LOGIN,
            client,
            user_id=user.id,
            email=user.email,
            reason=purpose.value,
        )
        return user

    def _request_options(
        self,
        uow: UnitOfWork,
        purpose: CeremonyPurpose,
        user_id: uuid.UUID | None,
        allowed: Sequence[PublicKeyCredentialDescriptor],
    ) -> Ceremony:
        """Options for `navigator.credentials.get()`, user verification required."""
        challenge = secrets.token_bytes(32)
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=int(CEREMONY_TTL.total_seconds() * 1000),
            allow_credentials=list(allowed),
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        handle = self._new_ceremony(uow, purpose, challenge, user_id)
        return Ceremony(handle, json.loads(options_to_json(options)))

    def _new_ceremony(
        self,
        uow: UnitOfWork,
        purpose: CeremonyPurpose,
        challenge: bytes,
        user_id: uuid.UUID | None,
    ) -> str:
        handle = secrets.token_urlsafe(32)
        ceremonies.add(
            uow.session,
            WebAuthnCeremony(
                token_hash=hash_token(handle),
                purpose=purpose.value,
                user_id=user_id,
                challenge=challenge,
                expires_at=self._clock() + CEREMONY_TTL,
            ),
        )
        return handle

    def _spend(
        self, uow: UnitOfWork, handle: str, purpose: CeremonyPurpose
    ) -> WebAuthnCeremony | None:
        """The ceremony, spent in a transaction of its own before its answer is looked
        at: whatever happens next, it cannot be answered twice."""
        now = self._clock()
        uow.end_reads()
        return uow.write_now(
            lambda session: ceremonies.spend(session, hash_token(handle), purpose.value, now)
        )

    def _mine(self, uow: UnitOfWork, principal: Principal, passkey_id: uuid.UUID) -> Passkey:
        passkey = passkeys.get_for_user(uow.session, principal.user.id, passkey_id)
        if passkey is None:
            raise errors.NotFound
        return passkey

    def _invalid(
        self, uow: UnitOfWork, client: ClientInfo, user_id: uuid.UUID | None, reason: str
    ) -> errors.PasskeyInvalid:
        self._audit_failure(uow, client, user_id, reason)
        return errors.PasskeyInvalid()

    @staticmethod
    def _audit_failure(
        uow: UnitOfWork, client: ClientInfo, user_id: uuid.UUID | None, reason: str
    ) -> None:
        uow.keep(
            audit.failure(AuthEventType.PASSKEY_FAILED, client, user_id=user_id, reason=reason)
        )


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [
        AuthenticatorTransport(value)
        for value in (passkey.transports or "").split(",")
        if value in _TRANSPORTS
    ]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.credential_id), transports=transports or None
    )


def _transports(credential: dict[str, Any]) -> str | None:
    response = credential.get("response")
    listed = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(listed, list):
        return None
    known = [value for value in listed if isinstance(value, str) and value in _TRANSPORTS]
    return ",".join(known)[:200] or None


def _user_handle_matches(credential: dict[str, Any], user: User) -> bool:
    """A discoverable credential names its user: it must be the passkey's owner."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is None:
        return True  # optional in an answer to a non-empty allow list
    if not isinstance(handle, str):
        return False
    try:
        return base64url_to_bytes(handle) == user.id.bytes
    except ValueError:
        return False
