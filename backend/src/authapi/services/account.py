"""The account's life after signup: profile, password change and reset, email
verification and change, deletion. Every change by link goes through a one-time
token; every change by a logged-in user needs the password again where it matters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from authapi import errors
from authapi.models import AuthEventType, Link, LinkPurpose, MailKind, User
from authapi.models.base import utcnow
from authapi.repositories import auth_events, links, outbox, recovery_codes, sessions, users
from authapi.security import PasswordHasher, hash_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.auth import Principal
from authapi.services.factors import remove_unproven
from authapi.services.mail import MailService
from authapi.services.passwords import password_problems
from authapi.services.pending import void_pending
from authapi.services.throttle import ActionLimit, LoginThrottle, begin_attempt, within_limit


def erase_user(session: Session, user: User) -> None:
    """Delete the user with their sessions, links, recovery codes and mail; their audit
    rows stay (with their user_id) but lose the email address. Shared by self-service
    deletion and `python -m authapi users delete`."""
    auth_events.erase_email(session, user.id, user.email)
    links.delete_for_user(session, user.id)
    recovery_codes.delete_for_user(session, user.id)
    outbox.delete_for_user(session, user.id, user.email)
    sessions.delete_for_user(session, user.id)
    users.delete(session, user)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """What a password confirmation needs: the hasher, the per-account throttle that
    wrong guesses count in, and the limit on confirmations of any outcome."""

    engine: Engine
    hasher: PasswordHasher
    throttle: LoginThrottle
    confirmations: ActionLimit

    def confirm(self, user: User, password: str, client: ClientInfo) -> None:
        """The password again, for changes that matter (400 wrong_password).

        Wrong guesses count in the per-account login throttle: a stolen access token
        must not become a way to guess the password without limit. Every
        confirmation, right or wrong, counts in RATE_LIMIT_PASSWORD_CONFIRM per account
        and per client: each costs a bcrypt check, and one account looping on a right
        password would otherwise keep the hasher from everyone else's logins."""
        within_limit(self.confirmations, f"user:{user.id}", f"ip:{client.requester}")
        attempt = begin_attempt(self.engine, self.throttle, user.email, client, user.id)
        if not self.hasher.verify(password, user.password_hash):
            audit.record_failure(
                self.engine,
                AuthEventType.LOGIN_FAILURE,
                client,
                user_id=user.id,
                email=user.email,
                reason="wrong_password",
            )
            raise errors.WrongPassword
        attempt.succeeded()


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
        self._throttle = passwords.throttle
        self._mail = mail
        self._email_changes = email_changes
        self._clock = clock

    # -- logged in ---------------------------------------------------------------

    def update_profile(
        self,
        session: Session,
        principal: Principal,
        changes: dict[str, str | None],
        client: ClientInfo,
    ) -> User:
        user = self._user(session, principal)
        if "name" in changes and changes["name"] != user.name:
            user.name = changes["name"]
            users.save(session, user)
            audit.record(
                session, AuthEventType.PROFILE_UPDATED, client, user_id=user.id, email=user.email
            )
        return user

    def change_password(
        self,
        session: Session,
        principal: Principal,
        current_password: str,
        new_password: str,
        client: ClientInfo,
    ) -> None:
        """Sets the new password and logs out every *other* session: whoever else
        holds a token of this account (a thief, an old device) is out."""
        user = self._user(session, principal)
        self._require_strong(new_password, user.email, "new_password")
        self._confirm_password(user, current_password, client)
        password_hash = self._hasher.hash(new_password)  # before the first write (SQLite)
        # Every link and challenge out, not only resets: a pending email change asked
        # for by whoever had the old password must not complete after this.
        void_pending(session, user.id)
        users.set_password_hash(session, user, password_hash)
        sessions.revoke_others(session, user.id, principal.session_id, self._clock())
        audit.record(
            session, AuthEventType.PASSWORD_CHANGED, client, user_id=user.id, email=user.email
        )
        self._mail.queue_password_changed(session, user, reset=False)

    def resend_verification(
        self, session: Session, principal: Principal, client: ClientInfo
    ) -> None:
        user = self._user(session, principal)
        if user.email_verified_at is None:
            self._mail.queue_link(
                session, MailKind.VERIFY_EMAIL, user.id, user.email, client.requester
            )

    def request_email_change(
        self,
        session: Session,
        principal: Principal,
        new_email: str,
        password: str,
        client: ClientInfo,
    ) -> None:
        """Mails a link to the new address and a notice to the old one; the address
        changes only when the link is opened (see `verify_email`). A taken address
        gets the same answer, and its owner a notice instead of a link, so that a
        change request never tells whether an address has an account."""
        user = self._user(session, principal)
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
        self._confirm_password(user, password, client)
        owner = users.get_by_email(session, new_email)
        if owner is not None:
            self._mail.queue_email_in_use_notice(session, owner, client.requester)
        # The notice goes with the link only: without a link there is no change to warn of.
        elif self._mail.queue_link(
            session, MailKind.CHANGE_EMAIL, user.id, new_email, client.requester
        ):
            self._mail.queue_email_change_notice(session, user, new_email)
        audit.record(
            session, AuthEventType.EMAIL_CHANGE_REQUESTED, client, user_id=user.id, email=new_email
        )

    def delete_account(
        self, session: Session, principal: Principal, password: str, client: ClientInfo
    ) -> None:
        """Deletes the user with their sessions, links and mail. Their audit rows stay
        (with their user_id) but lose the email address."""
        user = self._user(session, principal)
        self._confirm_password(user, password, client)
        erase_user(session, user)
        audit.record(session, AuthEventType.ACCOUNT_DELETED, client, user_id=user.id)

    # -- by link -------------------------------------------------------------------

    def request_password_reset(self, session: Session, email: str, client: ClientInfo) -> None:
        """The same work whether or not the address has an account: one lookup, one
        queued message, one audit row. The sender drops the message when there is
        nobody to send it to, so neither the answer nor its timing tells."""
        user = users.get_by_email(session, email)
        recipient = user.id if user is not None and user.is_active else None
        self._mail.queue_link(session, MailKind.PASSWORD_RESET, recipient, email, client.requester)
        audit.record(
            session,
            AuthEventType.PASSWORD_RESET_REQUESTED,
            client,
            user_id=user.id if user is not None else None,
            email=email,
        )

    def reset_password(
        self, session: Session, token: str, new_password: str, client: ClientInfo
    ) -> None:
        link, user = self._link(session, token, [LinkPurpose.PASSWORD_RESET])
        # Before the link is spent: a refused password leaves it usable.
        self._require_strong(new_password, user.email, "new_password")
        # Hash before the first write: on SQLite the write lock is held from the first
        # write to the commit, and bcrypt would hold it for a quarter of a second.
        password_hash = self._hasher.hash(new_password)
        # Every other link and challenge too (an email change, an mfa_token): first, see
        # void_pending.
        void_pending(session, user.id, keep=link.id)
        self._consume(session, link)
        now = self._clock()
        users.set_password_hash(session, user, password_hash)
        if user.email_verified_at is None:  # the link reached the inbox: the address is real
            user.email_verified_at = now
            users.save(session, user)
        # The address is proven now: a factor enrolled before it was may be a squatter's.
        factor_removed = remove_unproven(session, user, client)
        sessions.revoke_all_for_user(session, user.id, now)
        # Whoever reset the password holds the inbox; failed guesses before it no longer
        # keep the owner out.
        self._throttle.clear(user.email)
        audit.record(
            session, AuthEventType.PASSWORD_RESET, client, user_id=user.id, email=user.email
        )
        self._mail.queue_password_changed(session, user, reset=True, factor_removed=factor_removed)

    def verify_email(self, session: Session, token: str, client: ClientInfo) -> User:
        """Confirms the signup address, or completes an email change."""
        link, user = self._link(
            session, token, [LinkPurpose.VERIFY_EMAIL, LinkPurpose.CHANGE_EMAIL]
        )
        if link.purpose == LinkPurpose.CHANGE_EMAIL:
            # Links sent to the old address (a reset, a verification) must not work
            # after the change: first, see void_pending.
            void_pending(session, user.id, keep=link.id)
        self._consume(session, link)
        now = self._clock()
        if link.purpose == LinkPurpose.VERIFY_EMAIL:
            if user.email_verified_at is None:
                user.email_verified_at = now
                users.save(session, user)
                audit.record(
                    session, AuthEventType.EMAIL_VERIFIED, client, user_id=user.id, email=user.email
                )
            return user

        old_email = user.email
        user.email, user.email_verified_at = link.email, now
        try:
            users.save(session, user)
        except users.EmailAlreadyStored:  # someone signed up with it meanwhile
            raise errors.EmailTaken from None
        # The old address hears of it: if this was not its owner, they know today.
        self._mail.queue_email_changed_notice(session, user, old_email)
        audit.record(
            session,
            AuthEventType.EMAIL_CHANGED,
            client,
            user_id=user.id,
            email=user.email,
        )
        return user

    # -- helpers -------------------------------------------------------------------

    def _user(self, session: Session, principal: Principal) -> User:
        user = users.get_by_id(session, principal.user.id)
        if user is None:  # deleted between the token check and now
            raise errors.TokenRevoked
        return user

    def _link(self, session: Session, token: str, purposes: list[LinkPurpose]) -> tuple[Link, User]:
        """The usable link for this token and its active user, or `link_invalid`.
        A link is good only while it names the address it was sent to."""
        link = links.find_usable(session, hash_token(token), purposes, self._clock())
        user = users.get_by_id(session, link.user_id) if link is not None else None
        if link is None or user is None or not user.is_active:
            raise errors.LinkInvalid
        if link.purpose != LinkPurpose.CHANGE_EMAIL and link.email != user.email:
            raise errors.LinkInvalid
        return link, user

    def _consume(self, session: Session, link: Link) -> None:
        if not links.consume(session, link.id, self._clock()):  # a concurrent use won
            raise errors.LinkInvalid

    @staticmethod
    def _require_strong(password: str, email: str, field: str) -> None:
        problems = password_problems(password, email, field)
        if problems:
            raise errors.WeakPassword(errors=problems)

    def _confirm_password(self, user: User, password: str, client: ClientInfo) -> None:
        self._passwords.confirm(user, password, client)
