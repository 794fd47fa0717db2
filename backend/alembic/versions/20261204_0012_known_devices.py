"""known devices: the user-agent family and IP network each account signed in from

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

`known_devices`, one row per account and device, for the new-device notice. Existing
accounts start with none: their next sign-in from each device is remembered without
a notice (the rule for an account's first device). Downgrade drops the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_devices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_known_devices_user_device",
        "known_devices",
        ["user_id", "family", "network"],
        unique=True,
    )
    op.create_index("ix_known_devices_last_seen_at", "known_devices", ["last_seen_at"])


def downgrade() -> None:
    op.drop_table("known_devices")
