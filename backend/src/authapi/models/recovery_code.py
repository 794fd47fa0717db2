from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow


class RecoveryCode(SQLModel, table=True):
    """One unused recovery code of a user with the second factor on, by its SHA-256
    only. Using a code deletes its row; a new set replaces the old rows."""

    __tablename__ = "recovery_codes"
    __table_args__ = (
        Index("ix_recovery_codes_user_id_code_hash", "user_id", "code_hash", unique=True),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    code_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
