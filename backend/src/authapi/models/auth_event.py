from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, func, literal_column
from sqlmodel import Column, Field, Index, SQLModel, String, Uuid, col

from authapi.models.base import UTCDateTime, utcnow

USER_AGENT_MAX_LENGTH = 512


class AuthEventType(enum.StrEnum):
    SIGNUP = "signup"
    # A signup for a taken address while REQUIRE_VERIFIED_EMAIL hides it: the owner's row.
    SIGNUP_ATTEMPTED = "signup_attempted"
    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILURE = "login_failure"
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    TOKEN_REJECTED = "token_rejected"  # noqa: S105
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105
    PASSWORD_RESET = "password_reset"  # noqa: S105
    EMAIL_LOGIN_REQUESTED = "email_login_requested"
    EMAIL_VERIFIED = "email_verified"
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETED = "account_deleted"
    PROFILE_UPDATED = "profile_updated"
    TOKEN_REFRESHED = "token_refreshed"  # noqa: S105
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    MFA_FAILED = "mfa_failed"
    MFA_RECOVERY_CODE_USED = "mfa_recovery_code_used"
    MFA_RECOVERY_CODES_REGENERATED = "mfa_recovery_codes_regenerated"
    # Every second factor taken off without the factor itself: by a reset link when it
    # was enrolled before the address was proven, or from the shell (`users mfa-reset`).
    MFA_RESET = "mfa_reset"
    # Written by `python -m authapi users ...` (reason "shell", user agent "authapi-cli")
    # and by the /admin API (`actor_id` the admin).
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_UPDATED = "user_updated"
    ROLE_CHANGED = "role_changed"
    SESSIONS_REVOKED = "sessions_revoked"
    # One row on each side: the user's (actor_id the admin) and the admin's own
    # (`impersonated`, its email the user's).
    IMPERSONATION_STARTED = "impersonation_started"
    IMPERSONATED = "impersonated"
    OAUTH_LOGIN = "oauth_login"
    OAUTH_SIGNUP = "oauth_signup"
    OAUTH_FAILED = "oauth_failed"
    IDENTITY_LINKED = "identity_linked"
    IDENTITY_UNLINKED = "identity_unlinked"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_LOGIN = "passkey_login"
    PASSKEY_FAILED = "passkey_failed"
    PASSKEY_COUNTER_REGRESSED = "passkey_counter_regressed"
    # Organizations: `user_id` the one who acted, `reason` the org's id, `email` the
    # member's or the invited address where there is one.
    ORG_CREATED = "org_created"
    ORG_DELETED = "org_deleted"
    MEMBER_ADDED = "member_added"
    MEMBER_ROLE_CHANGED = "member_role_changed"
    MEMBER_REMOVED = "member_removed"
    INVITATION_SENT = "invitation_sent"
    INVITATION_REVOKED = "invitation_revoked"
    INVITATION_ACCEPTED = "invitation_accepted"


class AuthEvent(SQLModel, table=True):
    """The audit trail: one row per auth outcome, failures included, except that
    identical anonymous rejections from one IP within one minute share a row and
    its `count` (see FLOOD_KEY)."""

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_auth_events_email_created_at", "email", "created_at"),
        Index("ix_auth_events_created_at", "created_at"),  # retention deletes by age
        # The admin security log filtered by type or by IP, newest first.
        Index("ix_auth_events_type_created_at", "event_type", "created_at", "id"),
        Index("ix_auth_events_ip_created_at", "ip_address", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # No foreign key on purpose: the trail outlives the account it describes, so a
    # deleted user's rows keep their user_id (with the email erased).
    user_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid(), nullable=True))
    event_type: str = Field(sa_column=Column(String(32), nullable=False))
    # Who did it when that is not the user: the admin of an /admin action. Null for
    # the user's own actions and for the shell's (whose rows say reason "shell").
    actor_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid(), nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String(64)))
    email: str | None = Field(default=None, sa_column=Column(String(320)))
    ip_address: str | None = Field(default=None, sa_column=Column(String(45)))
    user_agent: str | None = Field(default=None, sa_column=Column(String(USER_AGENT_MAX_LENGTH)))
    request_id: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # How many requests the row stands for: 1, except on a flood row.
    count: int = Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))
    # The minute of a flood row, part of its key; null on rows that count nothing more.
    bucket: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def _blank_if_null(column: str | None) -> ColumnElement[str]:
    """NULLs never collide in a unique index (on SQLite and PostgreSQL alike), so the
    key compares the nullable columns as ''. A literal, not a bound parameter: the
    statement's conflict target must repeat the index expressions word for word."""
    return func.coalesce(col(column), literal_column("''"))


# The unique key of flood rows: an upsert on it adds to the count of the minute's row.
FLOOD_KEY = (
    col(AuthEvent.bucket),
    col(AuthEvent.event_type),
    _blank_if_null(AuthEvent.ip_address),
    _blank_if_null(AuthEvent.reason),
    _blank_if_null(AuthEvent.email),
)
FLOOD_ROWS = col(AuthEvent.bucket).is_not(None)
Index(
    "ix_auth_events_flood_key",
    *FLOOD_KEY,
    unique=True,
    sqlite_where=FLOOD_ROWS,
    postgresql_where=FLOOD_ROWS,
)
