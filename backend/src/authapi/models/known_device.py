from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, ForeignKey, Index, SQLModel, String, Uuid

from authapi.models.base import UTCDateTime, utcnow


class KnownDevice(SQLModel, table=True):
    """A device an account has signed in from: its user-agent family and IP network
    (/24 for IPv4, /48 for IPv6), as services/devices.py names them. A sign-in from
    one the account has not used for 90 days mails a notice."""

    __tablename__ = "known_devices"
    __table_args__ = (
        Index("ix_known_devices_user_device", "user_id", "family", "network", unique=True),
        Index("ix_known_devices_last_seen_at", "last_seen_at"),  # retention
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    family: str = Field(sa_column=Column(String(64), nullable=False))
    network: str = Field(sa_column=Column(String(64), nullable=False))
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
