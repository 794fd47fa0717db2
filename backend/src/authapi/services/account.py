"""The account's life while logged in: profile, password change, a fresh verification
link, asking for an email change, deletion. Changes that matter need the password
again; what a mailed link does when it is opened is email_links.py's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from authapi import errors
from authapi.models import AuthEventType, MailKind, User
from authapi.models.base import utcnow
from authapi.repositories import (
    auth_events,
    identities,
    known_devices,
    links,
    outbox,
    passkeys,
    recovery_codes,
    sessions,
    users,
)
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import (
    ActionLimit,
    PasswordCheck,
    Principal,
    admin_kept,
    load_user,
    within_limit,
)
from authapi.services.mail import MailService
from authapi.services.orgs import leave_every_org
from authapi.services.passwords import require_strong
from authapi.services.pending import void_pending
from authapi.unit_of_work import UnitOfWork


def erase_user(session: Session, user: User) -> None:
    """Delete the user with their sessions, links, recovery codes and mail; their audit
    rows stay (with their user_id) but lose the email address. Shared by self-service
    deletion and `python -m authapi users delete`. Refused (409 last_owner) while the
    user is the last owner of an org with other members."""
    leave_every_org(session, user)
    auth_events.erase_email(session, user.id, user.email)
    links.delete_for_user(session, user.id)
    recovery_codes.delete_for_user(session, user.id)
    identities.delete_for_user(session, user.id)
    passkeys.delete_for_user(session, user.id)
    known_devices.forget_for_user(session, user.id)
    outbox.delete_for_user(session, user.id, user.email)
    sessions.delete_for_user(session, user.id)
    users.delete(session, user)


class AccountService:
    def __init__(
        self,
        *,
        passwords: PasswordCheck,
        mail: MailService,
        email_changes: ActionLimit,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._passwords = passwords
        self._hasher = passwords.hasher
        self._mail = mail
        self._email_changes = email_changes
        self._clock = clock

    # -- logged in ---------------------------------------------------------------

    def update_profile(
        self,
        uow: UnitOfWork,
        principal: Principal,
        changes: dict[str, str | None],
        client: ClientInfo,
    ) -> User:
        user = load_user(uow, principal)
        if "name" in changes and changes["name"] != user.name:
            user.name = changes["name"]
            users.save(uow.session, user)
            audit.record(
                uow.session,
                AuthEventType.PROFILE_UPDATED,
                client,
                user_id=user.id,
                email=user.email,
            )
        return user

    def change_password(
        self,
        uow: UnitOfWork,
        principal: Principal,
        current_password: str,
        new_password: str,
        client: ClientInfo,
    ) -> None:
        """Sets the new password and logs out every *other* session: whoever else
        holds a token of this account (a thief, an old device) is out."""
        user = load_user(uow, principal)
        require_strong(new_password, user.email, "new_password")
        self._passwords.confirm(uow, user, current_password, client)
        password_hash = self._hasher.hash(new_password)  # before the first write (SQLite)
        # Every link and challenge out, not only resets: a pending email change asked
        # for by whoever had the old password must not complete after this.
        void_pending(uow.session, user.id)
        users.set_password_hash(uow.session, user, password_hash)
        sessions.revoke_others(uow.session, user.id, principal.session_id, self._clock())
        audit.record(
            uow.session, AuthEventType.PASSWORD_CHANGED, client, user_id=user.id, email=user.email
        )
        self._mail.queue_password_changed(uow, user, reset=False)

    def resend_verification(
        self, uow: UnitOfWork, principal: Principal, client: ClientInfo
    ) -> None:
        user = load_user(uow, principal)
        if user.email_verified_at is None:
            self._mail.queue_link(uow, MailKind.VERIFY_EMAIL, user.id, user.email, client.requester)

    def request_email_change(
        self,
        uow: UnitOfWork,
        principal: Principal,
        new_email: str,
        password: str,
        client: ClientInfo,
    ) -> None:
        """Mails a link to the new address and a notice to the old one; the address
        changes only when the link is opened (see `verify_email`). A taken address
        gets the same answer, and its owner a notice instead of a link, so that a
        change request never tells whether an address has an account."""
        user = load_user(uow, principal)
        within_limit(self._email_changes, f"user:{user.id}")
        if new_email == user.email:
            raise errors.ValidationFailed(
                "The new email is the account's current email.",
                errors=[
                    {
                        "field": "new_email",
                        "message": "This is already the account's email.",
                        "code": "same_email",
                    }
                ],
            )
        self._passwords.confirm(uow, user, password, client)
        owner = users.get_by_email(uow.session, new_email)
        if owner is not None:
            self._mail.queue_email_in_use_notice(uow, owner, client.requester)
        # The notice goes with the link only: without a link there is no change to warn of.
        elif self._mail.queue_link(
            uow, MailKind.CHANGE_EMAIL, user.id, new_email, client.requester
        ):
            self._mail.queue_email_change_notice(uow, user, new_email)
        audit.record(
            uow.session,
            AuthEventType.EMAIL_CHANGE_REQUESTED,
            client,
            user_id=user.id,
            email=new_email,
        )

    def delete_account(
        self, uow: UnitOfWork, principal: Principal, password: str, client: ClientInfo
    ) -> None:
        """Deletes the user with their sessions, links and mail. Their audit rows stay
        (with their user_id) but lose the email address."""
        user = load_user(uow, principal)
        self._passwords.confirm(uow, user, password, client)
        with admin_kept(uow, user, self._clock()):
            erase_user(uow.session, user)
        audit.record(uow.session, AuthEventType.ACCOUNT_DELETED, client, user_id=user.id)
