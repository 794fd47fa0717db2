"""What authapi mails and when: queue a message in the request's transaction, and
compose it when the sender takes it from the queue.

Mails with a link are queued without a body. The sender mints the link's token
when it composes the message, so a usable token exists only in the mail itself,
never in the database (the `links` table holds its hash). Notices carry their text
in the queue until they are sent.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

from sqlmodel import Session

from authapi import metrics
from authapi.config import Settings
from authapi.models import Invitation, Link, LinkPurpose, MailKind, OutboxMessage, User
from authapi.models.base import utcnow
from authapi.repositories import invitations, links, orgs, outbox, users
from authapi.security import email_code_hash, email_code_key, new_email_code, new_link_token
from authapi.services import mail_text
from authapi.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# An email sign-in's link and code: a short life, for they sign in on their own.
EMAIL_LOGIN_TTL_SECONDS = 15 * 60


class AddressLimit(Protocol):
    """MAIL_RATE_LIMIT and MAIL_ADDRESS_LIMIT (limit_storage.MailLimit): counts one mail
    to `address` asked for by `requester`, False when over."""

    def allow(self, address: str, requester: str) -> bool: ...


class MailService:
    def __init__(
        self,
        settings: Settings,
        *,
        limit: AddressLimit,
        doorbell: threading.Event,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._limit = limit
        self._doorbell = doorbell
        self._clock = clock
        self._domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
        self._code_key = email_code_key(settings.jwt_secret.get_secret_value())

    # -- queueing (in the request's transaction) --------------------------------

    def queue_link(
        self,
        uow: UnitOfWork,
        kind: MailKind,
        user_id: uuid.UUID | None,
        to_address: str,
        requester: str,
    ) -> bool:
        """Queue a mail with a link, unless the address had its mail limit (per
        `requester`, the asking client's limit key, and in all); the caller answers
        the same either way. `user_id` None queues a mail that will never be sent:
        the sender drops it (see forgot-password)."""
        if not self._allowed(kind, to_address, requester):
            return False
        self._queue(uow, OutboxMessage(kind=kind.value, user_id=user_id, to_address=to_address))
        return True

    def _allowed(self, kind: MailKind, to_address: str, requester: str) -> bool:
        if self._limit.allow(to_address, requester):
            return True
        metrics.MAIL_RATE_LIMITED.labels(kind.value).inc()
        logger.info("mail not queued: the address reached its mail limit")
        return False

    def queue_password_changed(
        self, uow: UnitOfWork, user: User, *, reset: bool, factor_removed: bool = False
    ) -> None:
        body = mail_text.CHANGED_NOTICE.format(
            email=user.email,
            how="reset with an emailed link" if reset else "changed",
            sessions="every session" if reset else "every other session",
            when=self._clock().strftime("%Y-%m-%d %H:%M"),
        )
        if factor_removed:
            body += mail_text.FACTOR_REMOVED
        self._queue_notice(uow, MailKind.PASSWORD_CHANGED, user, user.email, body)

    def queue_passkey_notice(self, uow: UnitOfWork, user: User, name: str, *, added: bool) -> None:
        body = mail_text.PASSKEY_NOTICE.format(
            name=name,
            what="added to" if added else "removed from",
            email=user.email,
            when=self._clock().strftime("%Y-%m-%d %H:%M"),
            consequence=mail_text.PASSKEY_ADDED if added else mail_text.PASSKEY_REMOVED,
        )
        kind = MailKind.PASSKEY_ADDED_NOTICE if added else MailKind.PASSKEY_REMOVED_NOTICE
        self._queue_notice(uow, kind, user, user.email, body)

    def queue_email_change_notice(self, uow: UnitOfWork, user: User, new_email: str) -> None:
        body = mail_text.EMAIL_CHANGE_NOTICE.format(email=user.email, new_email=new_email)
        self._queue_notice(uow, MailKind.EMAIL_CHANGE_NOTICE, user, user.email, body)

    def queue_email_changed_notice(self, uow: UnitOfWork, user: User, old_email: str) -> None:
        """To the address the account had: its owner learns of a change they did not make."""
        body = mail_text.EMAIL_CHANGED_NOTICE.format(
            old_email=old_email,
            new_email=user.email,
            when=self._clock().strftime("%Y-%m-%d %H:%M"),
        )
        self._queue_notice(uow, MailKind.EMAIL_CHANGED_NOTICE, user, old_email, body)

    def queue_email_in_use_notice(self, uow: UnitOfWork, owner: User, requester: str) -> None:
        """Instead of a link, to the owner of an address another account asked for:
        the asker gets the same answer as for a free address, so learns nothing. It
        counts in the address's mail limit like a link would."""
        if self._allowed(MailKind.EMAIL_IN_USE_NOTICE, owner.email, requester):
            body = mail_text.EMAIL_IN_USE_NOTICE.format(email=owner.email)
            self._queue_notice(uow, MailKind.EMAIL_IN_USE_NOTICE, owner, owner.email, body)

    def queue_signup_attempt_notice(self, uow: UnitOfWork, owner: User, requester: str) -> None:
        """Instead of a verification link, to the owner of an address someone signed
        up with while REQUIRE_VERIFIED_EMAIL hides who has an account; counted in the
        address's mail limit like the link would be."""
        kind = MailKind.SIGNUP_ATTEMPT_NOTICE
        if self._allowed(kind, owner.email, requester):
            body = mail_text.SIGNUP_ATTEMPT_NOTICE.format(email=owner.email)
            self._queue_notice(uow, kind, owner, owner.email, body)

    def queue_new_device_notice(
        self, uow: UnitOfWork, user: User, family: str, network: str, when: datetime
    ) -> None:
        """Counted in the address's mail limit: a password thief signing in from many
        places must not bury the owner's inbox (one notice tells them enough)."""
        kind = MailKind.NEW_DEVICE_NOTICE
        if self._allowed(kind, user.email, f"device:{user.id}"):
            body = mail_text.NEW_DEVICE_NOTICE.format(
                email=user.email,
                when=when.strftime("%Y-%m-%d %H:%M"),
                family=family,
                network=network,
            )
            self._queue_notice(uow, kind, user, user.email, body)

    def queue_invitation(self, uow: UnitOfWork, invitation: Invitation, requester: str) -> bool:
        """Queue the invitation's mail, unless the address had its mail limit (False:
        the caller answers 429, the inviter can try again later)."""
        kind = MailKind.ORG_INVITATION
        if not self._allowed(kind, invitation.email, requester):
            return False
        message = OutboxMessage(
            kind=kind.value, to_address=invitation.email, invitation_id=invitation.id
        )
        self._queue(uow, message)
        return True

    def _queue_notice(
        self, uow: UnitOfWork, kind: MailKind, user: User, to_address: str, body: str
    ) -> None:
        message = OutboxMessage(kind=kind.value, user_id=user.id, to_address=to_address, body=body)
        self._queue(uow, message)

    def _queue(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        outbox.add(uow.session, message)
        uow.after_commit(self._doorbell.set)  # the sender wakes for it

    # -- composing (in the sender's transaction) -------------------------------

    def compose(self, session: Session, message: OutboxMessage) -> EmailMessage | None:
        """The mail to send for a queued message, or None when there is nothing to
        send any more (the account is gone, disabled, or its address changed)."""
        kind = MailKind(message.kind)
        minted: tuple[str, str] | None
        if kind is MailKind.ORG_INVITATION:
            minted = self._invitation_body(session, message)
        elif kind in mail_text.LINK_TEMPLATES:
            minted = self._link_body(session, kind, message)
        else:
            minted = None if message.body is None else (message.body, "")
        if minted is None:
            return None
        body, version = minted
        mail = EmailMessage()
        mail["From"] = self._settings.mail_from
        mail["To"] = message.to_address
        mail["Subject"] = mail_text.SUBJECTS[kind]
        mail["Date"] = formatdate(usegmt=True)
        # Stable, so that a receiving server may drop a copy sent twice (a process that
        # died between the SMTP answer and recording it). A link minted again is a new
        # link, so a mail composed again names it: never dropped as the old mail's copy.
        mail["Message-ID"] = f"<{message.id.hex}{version}@{self._domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(body)
        return mail

    def _invitation_body(self, session: Session, message: OutboxMessage) -> tuple[str, str] | None:
        """Mint the invitation's token now (only its hash is kept, replacing any
        earlier one), if the invitation is still pending."""
        if not outbox.hold(session, message.id) or message.invitation_id is None:
            return None
        invitation = invitations.get(session, message.invitation_id)
        now = self._clock()
        if (
            invitation is None
            or invitation.accepted_at is not None
            or invitation.revoked_at is not None
            or invitation.expires_at <= now
        ):
            return None
        org = orgs.get(session, invitation.org_id)
        if org is None:
            return None
        inviter = users.get_by_id(session, invitation.invited_by) if invitation.invited_by else None
        token, token_hash = new_link_token()
        invitations.set_token_hash(session, invitation.id, token_hash)
        body = mail_text.ORG_INVITATION.format(
            inviter=(inviter.name or inviter.email) if inviter else "Someone",
            email=invitation.email,
            org=org.name,
            role="an " + invitation.role if invitation.role in ("owner", "admin") else "a member",
            url=self._settings.org_invite_url.replace("{token}", token),
            expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M"),
        )
        return body, "." + secrets.token_hex(8)  # this mint's, as a link's id is

    def _link_body(
        self, session: Session, kind: MailKind, message: OutboxMessage
    ) -> tuple[str, str] | None:
        # First, the message's row lock: a void_pending (password change, reset,
        # logout everywhere) deleting it either did so already, or waits for this
        # transaction and then voids the link minted here.
        if not outbox.hold(session, message.id):
            return None
        user = users.get_by_id(session, message.user_id) if message.user_id else None
        if user is None or user.is_disabled(self._clock()):
            return None
        if kind is MailKind.CHANGE_EMAIL:
            if message.to_address == user.email or users.get_by_email(session, message.to_address):
                return None
        elif user.email != message.to_address:
            return None
        if kind is MailKind.VERIFY_EMAIL and user.email_verified_at is not None:
            return None

        purpose, template = mail_text.LINK_TEMPLATES[kind]
        if purpose is LinkPurpose.PASSWORD_RESET:
            ttl, url = self._settings.password_reset_ttl_seconds, self._settings.password_reset_url
        elif purpose is LinkPurpose.EMAIL_LOGIN:
            ttl, url = EMAIL_LOGIN_TTL_SECONDS, self._settings.email_login_url
        else:
            ttl, url = self._settings.email_verify_ttl_seconds, self._settings.email_verify_url
        token, token_hash = new_link_token()
        now = self._clock()
        links.void(session, user.id, [purpose])  # a newer link voids older ones
        link = links.add(
            session,
            Link(
                user_id=user.id,
                purpose=purpose.value,
                token_hash=token_hash,
                email=message.to_address,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
            ),
        )
        code = ""
        if purpose is LinkPurpose.EMAIL_LOGIN:  # and a code to type, in the same mail
            code = new_email_code()
            links.set_code_hash(session, link, email_code_hash(self._code_key, link.id, code))
        body = template.format(
            email=message.to_address,
            url=url.replace("{token}", token),
            ttl=mail_text.human_duration(ttl),
            code=code,
        )
        return body, "." + link.id.hex
