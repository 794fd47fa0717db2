from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, LargeBinary, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow


class CeremonyPurpose(enum.StrEnum):
    REGISTER = "register"
    LOGIN = "login"
    MFA = "mfa"


class WebAuthnCeremony(SQLModel, table=True):
    """One WebAuthn challenge between its options and their answer: single use, five
    minutes, bound to its purpose and (register, mfa) to its user. The client holds
    the `ceremony` handle; only its hash is stored."""

    __tablename__ = "webauthn_ceremonies"
    __table_args__ = (
        Index("ix_webauthn_ceremonies_token_hash", "token_hash", unique=True),
        Index("ix_webauthn_ceremonies_expires_at", "expires_at"),  # retention
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    purpose: str = Field(sa_column=Column(String(16), nullable=False))
    user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    challenge: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
