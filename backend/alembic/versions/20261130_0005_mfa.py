"""second factor: TOTP secret and replay guard on users, recovery codes

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30

Upgrades a database with users in it: every existing user starts with the factor
off (`mfa_enabled` false, no secret). Downgrade drops the recovery codes and the
columns, so accounts with the factor on go back to password-only logins, and drops
the pending two-step logins (links with purpose `mfa_login`) the old code would not
know.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("mfa_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("totp_secret", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_recovery_codes_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_recovery_codes_user_id_code_hash",
        "recovery_codes",
        ["user_id", "code_hash"],
        unique=True,
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM links WHERE purpose = 'mfa_login'"))
    op.drop_index("ix_recovery_codes_user_id_code_hash", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
        batch.drop_column("mfa_enabled")
