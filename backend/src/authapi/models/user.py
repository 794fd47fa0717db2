from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Boolean, Column, Field, Index, Integer, SQLModel, String, false

from authapi.models.base import UTCDateTime, bytewise, utcnow

EMAIL_MAX_LENGTH = 320
DISABLED_REASON_MAX_LENGTH = 200


class UserRole(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


def disabled_at(is_active: bool, disabled_until: datetime | None, now: datetime) -> bool:
    """Disabled now: switched off and not yet past the end an admin may have set
    (`POST /admin/users/{id}/disable` with `until`). Past it, the account is back
    by itself: nothing has to run at that moment."""
    return not is_active and (disabled_until is None or now < disabled_until)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_email", "email", unique=True),
        # The admin console's newest-first listing pages by (created_at, id).
        Index("ix_users_created_at_id", "created_at", "id"),
    )

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
    # `user` or `admin` (UserRole); read with the session on every request.
    role: str = Field(
        default=UserRole.USER,
        sa_column=Column(String(16), nullable=False, server_default=UserRole.USER.value),
    )
    # Set by an admin's disable: why, and (optionally) when the account comes back.
    disabled_reason: str | None = Field(
        default=None, sa_column=Column(String(DISABLED_REASON_MAX_LENGTH))
    )
    disabled_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    def is_disabled(self, now: datetime) -> bool:
        return disabled_at(self.is_active, self.disabled_until, now)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN

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


# The admin search (repositories/users.search): a prefix of the address or of the
# lower-cased name is a range read in order of one of these (names with their id,
# for the page after a name many users share). The unique ix_users_email serves
# the address on SQLite already; PostgreSQL's compares by the database's collation,
# under which a range is not a prefix.
_USERS = User.__table__  # type: ignore[attr-defined]
Index("ix_users_email_bytewise", bytewise(_USERS.c.email)).ddl_if(dialect="postgresql")
Index("ix_users_name_prefix", bytewise(func.lower(_USERS.c.name)), _USERS.c.id)
