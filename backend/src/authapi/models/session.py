from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow


class AuthSession(SQLModel, table=True):
    """A login: every access and refresh token issued to it names this row, and
    revoking the row revokes them all. It ends at `expires_at` (SESSION_TTL_SECONDS
    after the login), however often it is refreshed."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id_revoked_at", "user_id", "revoked_at"),
        # Retention finds ended sessions by either time.
        Index("ix_sessions_expires_at", "expires_at"),
        Index("ix_sessions_revoked_at", "revoked_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    ip_address: str | None = Field(default=None, sa_column=Column(String(45)))
    user_agent: str | None = Field(default=None, sa_column=Column(String(512)))
    # The admin signed in as this user (POST /admin/users/{id}/impersonate): such a
    # session lasts an hour at most, has no refresh token, and cannot change how the
    # account signs in. Deleting the admin deletes it.
    impersonator_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
