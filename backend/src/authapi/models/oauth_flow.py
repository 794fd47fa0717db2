from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow


class OAuthFlow(SQLModel, table=True):
    """One trip to a provider and back, from /authorize to its callback: single use,
    ten minutes. Only hashes of the `state` and of the browser's binding cookie are
    stored; the PKCE verifier and nonce must be kept in clear to be sent and compared."""

    __tablename__ = "oauth_flows"
    __table_args__ = (
        Index("ix_oauth_flows_state_hash", "state_hash", unique=True),
        Index("ix_oauth_flows_expires_at", "expires_at"),  # retention deletes old ones
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    state_hash: str = Field(sa_column=Column(String(64), nullable=False))
    browser_hash: str = Field(sa_column=Column(String(64), nullable=False))
    provider: str = Field(sa_column=Column(String(32), nullable=False))
    code_verifier: str = Field(sa_column=Column(String(128), nullable=False))
    nonce: str | None = Field(default=None, sa_column=Column(String(64)))
    redirect_to: str = Field(sa_column=Column(String(2048), nullable=False))
    # Set when a logged-in user links an identity: the flow attaches it to them.
    link_user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
