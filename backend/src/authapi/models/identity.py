from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow
from authapi.models.user import EMAIL_MAX_LENGTH


class Identity(SQLModel, table=True):
    """A social-login account: (provider id, the provider's subject) names one person
    at that provider for good; an email address does not (it can change hands)."""

    __tablename__ = "identities"
    __table_args__ = (
        Index("ix_identities_provider_subject", "provider", "subject", unique=True),
        Index("ix_identities_user_id", "user_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    provider: str = Field(sa_column=Column(String(32), nullable=False))
    subject: str = Field(sa_column=Column(String(255), nullable=False))
    # The address the provider gave at the last sign-in, shown in the list; not a key.
    email: str | None = Field(default=None, sa_column=Column(String(EMAIL_MAX_LENGTH)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
