"""audit counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Repeated anonymous rejections from one IP (bad tokens, 429s) are counted in one
row per type, reason, IP, email and minute instead of a row each. Existing rows stay
as they are and count 1. Downgrading drops the counts: a flood row becomes a single
row again, so the trail then undercounts what it recorded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLOOD_KEY = [
    "bucket",
    "event_type",
    sa.text("coalesce(ip_address, '')"),
    sa.text("coalesce(reason, '')"),
    sa.text("coalesce(email, '')"),
]
FLOOD_ROWS = sa.text("bucket IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "auth_events",
        sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("auth_events", sa.Column("bucket", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_auth_events_flood_key",
        "auth_events",
        FLOOD_KEY,
        unique=True,
        sqlite_where=FLOOD_ROWS,
        postgresql_where=FLOOD_ROWS,
    )


def downgrade() -> None:
    op.drop_index("ix_auth_events_flood_key", table_name="auth_events")
    op.drop_column("auth_events", "bucket")
    op.drop_column("auth_events", "count")
