"""email sign-in: the code beside a link

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

`links.code_hash` (an HMAC of an email sign-in's 6-digit code) and
`links.code_attempts` (its wrong tries; 0 for every existing link). Downgrade drops
both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("links", sa.Column("code_hash", sa.String(64), nullable=True))
    op.add_column(
        "links", sa.Column("code_attempts", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("code_attempts")
        batch.drop_column("code_hash")
