from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, Integer, SQLModel, String, Text, Uuid

from authapi.models.base import UTCDateTime, utcnow
from authapi.models.user import EMAIL_MAX_LENGTH


class MailKind(enum.StrEnum):
    """What a queued message is; the sender composes it from this when it sends."""

    VERIFY_EMAIL = "verify_email"
    CHANGE_EMAIL = "change_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105
    EMAIL_LOGIN = "email_login"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    EMAIL_CHANGE_NOTICE = "email_change_notice"
    # To the old address once the change is done.
    EMAIL_CHANGED_NOTICE = "email_changed_notice"
    # To the owner of an address another account asked to change to.
    EMAIL_IN_USE_NOTICE = "email_in_use_notice"
    # To the owner of an address someone tried to sign up with (REQUIRE_VERIFIED_EMAIL).
    SIGNUP_ATTEMPT_NOTICE = "signup_attempt_notice"
    NEW_DEVICE_NOTICE = "new_device_notice"
    PASSKEY_ADDED_NOTICE = "passkey_added_notice"
    PASSKEY_REMOVED_NOTICE = "passkey_removed_notice"
    # An invitation to an org (`invitation_id`): its link is minted when composed.
    ORG_INVITATION = "org_invitation"


class MailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DROPPED = "dropped"  # nothing to send any more (e.g. a reset for an unknown address)
    FAILED = "failed"  # gave up after MAIL_MAX_ATTEMPTS


class OutboxMessage(SQLModel, table=True):
    """A mail to send, queued in the transaction of the change that causes it.

    Messages with a link carry no body here: the sender mints the link's token and
    composes the text at sending time, so no usable token ever rests in the table.
    `body` holds a notice's text until it is sent, then it is erased.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_mail_outbox_user_id", "user_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    # The invitation an `org_invitation` mail is for; revoking or answering it, or
    # deleting the org, leaves the mail nothing to send.
    invitation_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid(), ForeignKey("org_invitations.id", ondelete="CASCADE"), nullable=True
        ),
    )
    to_address: str = Field(sa_column=Column(String(EMAIL_MAX_LENGTH), nullable=False))
    body: str | None = Field(default=None, sa_column=Column(Text()))
    status: str = Field(
        default=MailStatus.QUEUED.value, sa_column=Column(String(16), nullable=False)
    )
    attempts: int = Field(default=0, sa_column=Column(Integer(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error: str | None = Field(default=None, sa_column=Column(String(200)))
