from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import (
    BigInteger,
    Boolean,
    Column,
    Field,
    ForeignKey,
    Index,
    LargeBinary,
    SQLModel,
    String,
    Uuid,
    false,
)

from authapi.models.base import UTCDateTime, utcnow

# WebAuthn allows credential ids of up to 1,023 bytes: 1,364 base64url characters.
CREDENTIAL_ID_MAX_LENGTH = 1400
PASSKEY_NAME_MAX_LENGTH = 64


class Passkey(SQLModel, table=True):
    """A WebAuthn credential of a user: its public key and what the authenticator said
    about itself. Never a private key (the authenticator keeps it)."""

    __tablename__ = "passkeys"
    __table_args__ = (
        # One credential id in the whole database: a second registration of the same
        # authenticator key, to anyone, is refused.
        Index("ix_passkeys_credential_id", "credential_id", unique=True),
        Index("ix_passkeys_user_id", "user_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    credential_id: str = Field(sa_column=Column(String(CREDENTIAL_ID_MAX_LENGTH), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))  # COSE
    sign_count: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    transports: str | None = Field(default=None, sa_column=Column(String(200)))  # comma-separated
    aaguid: str = Field(sa_column=Column(String(36), nullable=False))
    backup_eligible: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    backed_up: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    # Added while the address was unverified: whoever added it had not proved the
    # address, so a reset by link takes it off (services/factors.py).
    enrolled_unverified: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    name: str = Field(sa_column=Column(String(PASSKEY_NAME_MAX_LENGTH), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
