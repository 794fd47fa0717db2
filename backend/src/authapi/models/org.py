"""Organizations: a team of users with roles in it, and the invitations that bring
people in."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow
from authapi.models.user import EMAIL_MAX_LENGTH


class OrgRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (Index("ix_organizations_slug", "slug", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    # `[a-z0-9-]{3,40}`, unique: the org's name in URLs.
    slug: str = Field(sa_column=Column(String(40), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Membership(SQLModel, table=True):
    """A user in an org, with their role there; read from the database on every
    request that needs it."""

    __tablename__ = "org_memberships"
    __table_args__ = (Index("ix_org_memberships_user_id", "user_id"),)

    org_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(sa_column=Column(String(16), nullable=False))
    joined_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Invitation(SQLModel, table=True):
    """An invitation to an org, mailed to `email`. Only the SHA-256 of its link's
    token is stored, minted when the mail is composed (null until then); it works
    once, until `expires_at`, and only for the invited address."""

    __tablename__ = "org_invitations"
    __table_args__ = (
        Index("ix_org_invitations_token_hash", "token_hash", unique=True),
        Index("ix_org_invitations_org_id_email", "org_id", "email"),
        Index("ix_org_invitations_expires_at", "expires_at"),  # retention
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    )
    email: str = Field(sa_column=Column(String(EMAIL_MAX_LENGTH), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    token_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    invited_by: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
