"""account lifecycle: links, mail outbox, users.email_verified_at; audit rows outlive users

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Upgrades a database with users in it: existing users start unverified
(`email_verified_at` null). The audit trail's foreign key to users goes: a deleted
account's audit rows keep their `user_id`. Downgrade puts the key back, first
clearing the `user_id` of rows whose user no longer exists (as SET NULL would have).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", _utc(), nullable=True))

    with op.batch_alter_table("auth_events") as batch:
        batch.drop_constraint("fk_auth_events_user_id_users", type_="foreignkey")

    op.create_table(
        "links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_links"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_links_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_links_token_hash", "links", ["token_hash"], unique=True)
    op.create_index("ix_links_user_id_purpose", "links", ["user_id", "purpose"])

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("claimed_until", _utc(), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_mail_outbox_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_mail_outbox_status_next_attempt_at", "mail_outbox", ["status", "next_attempt_at"]
    )
    op.create_index("ix_mail_outbox_user_id", "mail_outbox", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_user_id", table_name="mail_outbox")
    op.drop_index("ix_mail_outbox_status_next_attempt_at", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index("ix_links_user_id_purpose", table_name="links")
    op.drop_index("ix_links_token_hash", table_name="links")
    op.drop_table("links")

    op.execute(
        "UPDATE auth_events SET user_id = NULL "
        "WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)"
    )
    with op.batch_alter_table("auth_events") as batch:
        batch.create_foreign_key(
            "fk_auth_events_user_id_users", "users", ["user_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
