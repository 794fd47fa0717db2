"""social sign-in: identities, the flows to providers and back, accounts with no password

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

`users.password_hash` may be null (an account made by social sign-in has no password
until a reset sets one). `identities` holds one row per (provider, subject), linked to
a user; `oauth_flows` the short-lived state of a trip to a provider. Downgrade drops
both tables and gives accounts without a password the unusable hash `!` (no password
verifies against it; a reset still sets one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNUSABLE_HASH = "!"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(255), nullable=True)
    op.create_table(
        "identities",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_identities_provider_subject", "identities", ["provider", "subject"], unique=True
    )
    op.create_index("ix_identities_user_id", "identities", ["user_id"])
    op.create_table(
        "oauth_flows",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(64)),
        sa.Column("redirect_to", sa.String(2048), nullable=False),
        sa.Column(
            "link_user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_oauth_flows_state_hash", "oauth_flows", ["state_hash"], unique=True)
    op.create_index("ix_oauth_flows_expires_at", "oauth_flows", ["expires_at"])


def downgrade() -> None:
    op.drop_table("oauth_flows")
    op.drop_table("identities")
    users = sa.table("users", sa.column("password_hash", sa.String(255)))
    op.execute(
        users.update().where(users.c.password_hash.is_(None)).values(password_hash=UNUSABLE_HASH)
    )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(255), nullable=False)
