"""retention: the job_leases table and the indexes pruning deletes by

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-30

No existing row changes. The indexes let `python -m authapi prune` (and the periodic
job) find old rows without scanning whole tables: audit rows by `created_at`,
sessions by `expires_at` and `revoked_at`, links by `expires_at`. `job_leases` holds
the shared schedule of the periodic job (one row, written on first use).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.String(length=128), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_job_leases"),
    )
    op.create_index("ix_auth_events_created_at", "auth_events", ["created_at"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_index("ix_sessions_revoked_at", "sessions", ["revoked_at"])
    op.create_index("ix_links_expires_at", "links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_links_expires_at", table_name="links")
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_auth_events_created_at", table_name="auth_events")
    op.drop_table("job_leases")
