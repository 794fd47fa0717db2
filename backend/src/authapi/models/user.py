from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Boolean, Column, Field, Index, Integer, SQLModel, String, false

from authapi.models.base import UTCDateTime, utcnow

EMAIL_MAX_LENGTH = 320


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_email", "email", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Stored trimmed and lower-cased; the unique index is on this form.
    email: str = Field(sa_column=Column(String(EMAIL_MAX_LENGTH), nullable=False))
    name: str | None = Field(default=None, max_length=100)
    # None for an account made by social sign-in until a reset sets one.
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Null until the owner of the address follows a verification (or reset) link.
    email_verified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The second factor. `totp_secret` is Fernet-encrypted (MFA_ENCRYPTION_KEY), never
    # the base32 secret; while `mfa_enabled` is false it is a pending setup, if any.
    mfa_enabled: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    totp_secret: str | None = Field(default=None, sa_column=Column(String(255)))
    # The RFC 6238 time step of the last accepted code: no code of it, or of an
    # earlier step, is accepted again (no replay).
    totp_last_step: int | None = Field(default=None, sa_column=Column(Integer()))
    # True when the factor went on while `email_verified_at` was null: whoever enrolled
    # it had not proved the address, so a reset by link (which proves it) takes it off.
    # Recorded at enrolment, not compared with times later: an email change re-sets
    # `email_verified_at`, and a factor enrolled on a proven address must stay.
    mfa_enrolled_unverified: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    # How many passkeys the account has, kept with them (services/passkeys.py), so
    # that the login and the user object need no count query.
    passkey_count: int = Field(
        default=0, sa_column=Column(Integer(), nullable=False, server_default="0")
    )

    @property
    def has_second_factor(self) -> bool:
        """A login of this account asks for a second step: TOTP or a passkey."""
        return self.mfa_enabled or self.passkey_count > 0

    @property
    def passkeys(self) -> int:
        """The user object's name for the count."""
        return self.passkey_count

    @property
    def has_password(self) -> bool:
        """False for an account made by social sign-in until a reset sets one."""
        return self.password_hash is not None
