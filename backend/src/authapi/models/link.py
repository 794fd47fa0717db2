from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, Integer, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow
from authapi.models.user import EMAIL_MAX_LENGTH


class LinkPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105
    VERIFY_EMAIL = "verify_email"
    CHANGE_EMAIL = "change_email"
    # Not mailed: the mfa_token between a correct password and the second factor.
    MFA_LOGIN = "mfa_login"
    # Not mailed either: authapi's one-time code at the end of a social sign-in.
    OAUTH_CODE = "oauth_code"
    # Email sign-in: the mailed link, and the 6-digit code in the same mail.
    EMAIL_LOGIN = "email_login"


class Link(SQLModel, table=True):
    """A one-time link mailed to a user (or an mfa_token of a two-step login). Only
    the SHA-256 of its token is stored.

    `email` is the address the link was sent to: a link is good only while it still
    names the user's address (or, for an email change, the address to change to).
    """

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_token_hash", "token_hash", unique=True),
        Index("ix_links_user_id_purpose", "user_id", "purpose"),
        Index("ix_links_expires_at", "expires_at"),  # retention deletes expired links
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    email: str = Field(sa_column=Column(String(EMAIL_MAX_LENGTH), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Email sign-in's 6-digit code: an HMAC of it (security.email_code_hash), and the
    # wrong tries so far (five void the link).
    code_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    code_attempts: int = Field(
        default=0, sa_column=Column(Integer(), nullable=False, server_default="0")
    )
