"""What a mailed link does when it is opened: reset the password, confirm the signup
address, or complete an email change. Every link is one-time and names the address
it was sent to; asking for a reset link tells nobody whether the address has an
account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from authapi import errors
from authapi.models import AuthEventType, Link, LinkPurpose, MailKind, User
from authapi.models.base import utcnow
from authapi.repositories import links, sessions, users
from authapi.security import PasswordHasher, hash_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import AccountThrottle
from authapi.services.factors import remove_unproven
from authapi.services.mail import MailService
from authapi.services.passwords import require_strong
from authapi.services.pending import void_pending
from authapi.unit_of_work import UnitOfWork


class EmailLinkService:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        throttle: AccountThrottle,
        mail: MailService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._hasher = hasher
        self._throttle = throttle
        self._mail = mail
        self._clock = clock

    def request_password_reset(self, uow: UnitOfWork, email: str, client: ClientInfo) -> None:
        """The same work whether or not the address has an account: one lookup, one
        queued message, one audit row. The sender drops the message when there is
        nobody to send it to, so neither the answer nor its timing tells."""
        user = users.get_by_email(uow.session, email)
        recipient = user.id if user is not None and not user.is_disabled(self._clock()) else None
        self._mail.queue_link(uow, MailKind.PASSWORD_RESET, recipient, email, client.requester)
        audit.record(
            uow.session,
            AuthEventType.PASSWORD_RESET_REQUESTED,
            client,
            user_id=user.id if user is not None else None,
            email=email,
        )

    def reset_password(
        self, uow: UnitOfWork, token: str, new_password: str, client: ClientInfo
    ) -> None:
        link, user = self._link(uow, token, [LinkPurpose.PASSWORD_RESET])
        # Before the link is spent: a refused password leaves it usable.
        require_strong(new_password, user.email, "new_password")
        # Hash before the first write: on SQLite the write lock is held from the first
        # write to the commit, and bcrypt would hold it for a quarter of a second.
        password_hash = self._hasher.hash(new_password)
        # Every other link and challenge too (an email change, an mfa_token): first, see
        # void_pending.
        void_pending(uow.session, user.id, keep=link.id)
        self._consume(uow, link)
        now = self._clock()
        users.set_password_hash(uow.session, user, password_hash)
        if user.email_verified_at is None:  # the link reached the inbox: the address is real
            user.email_verified_at = now
            users.save(uow.session, user)
        # The address is proven now: a factor enrolled before it was may be a squatter's.
        factor_removed = remove_unproven(uow.session, user, client)
        sessions.revoke_all_for_user(uow.session, user.id, now)
        # Whoever reset the password holds the inbox; failed guesses before it no longer
        # keep the owner out.
        self._throttle.clear(user.email)
        audit.record(
            uow.session, AuthEventType.PASSWORD_RESET, client, user_id=user.id, email=user.email
        )
        self._mail.queue_password_changed(uow, user, reset=True, factor_removed=factor_removed)

    def verify_email(self, uow: UnitOfWork, token: str, client: ClientInfo) -> User:
        """Confirms the signup address, or completes an email change."""
        link, user = self._link(uow, token, [LinkPurpose.VERIFY_EMAIL, LinkPurpose.CHANGE_EMAIL])
        if link.purpose == LinkPurpose.CHANGE_EMAIL:
            # Links sent to the old address (a reset, a verification) must not work
            # after the change: first, see void_pending.
            void_pending(uow.session, user.id, keep=link.id)
        self._consume(uow, link)
        now = self._clock()
        if link.purpose == LinkPurpose.VERIFY_EMAIL:
            if user.email_verified_at is None:
                user.email_verified_at = now
                users.save(uow.session, user)
                audit.record(
                    uow.session,
                    AuthEventType.EMAIL_VERIFIED,
                    client,
                    user_id=user.id,
                    email=user.email,
                )
            return user

        old_email = user.email
        user.email, user.email_verified_at = link.email, now
        try:
            users.save(uow.session, user)
        except users.EmailAlreadyStored:  # someone signed up with it meanwhile
            raise errors.EmailTaken from None
        # The old address hears of it: if this was not its owner, they know today.
        self._mail.queue_email_changed_notice(uow, user, old_email)
        audit.record(
            uow.session,
            AuthEventType.EMAIL_CHANGED,
            client,
            user_id=user.id,
            email=user.email,
        )
        return user

    # -- helpers -------------------------------------------------------------------

    def _link(self, uow: UnitOfWork, token: str, purposes: list[LinkPurpose]) -> tuple[Link, User]:
        """The usable link for this token and its active user, or `link_invalid`.
        A link is good only while it names the address it was sent to."""
        link = links.find_usable(uow.session, hash_token(token), purposes, self._clock())
        user = users.get_by_id(uow.session, link.user_id) if link is not None else None
        if link is None or user is None or user.is_disabled(self._clock()):
            raise errors.LinkInvalid
        if link.purpose != LinkPurpose.CHANGE_EMAIL and link.email != user.email:
            raise errors.LinkInvalid
        return link, user

    def _consume(self, uow: UnitOfWork, link: Link) -> None:
        if not links.consume(uow.session, link.id, self._clock()):  # a concurrent use won
            raise errors.LinkInvalid
