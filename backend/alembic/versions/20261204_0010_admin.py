"""admin: roles, timed disables, impersonated sessions, the actor of an audit row

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

`users.role` ('user' for every existing user), `users.disabled_reason` and
`users.disabled_until`; `sessions.impersonator_id` (the admin of an impersonated
session); `auth_events.actor_id`. Indexes for the admin console: the email and the
lower-cased name compared byte by byte (prefix search as a range scan), users by
creation, the security log by type and by IP. Downgrade drops them all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="user"))
        batch.add_column(sa.Column("disabled_reason", sa.String(200)))
        batch.add_column(sa.Column("disabled_until", sa.DateTime(timezone=True)))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("impersonator_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_sessions_impersonator_id_users",
            "users",
            ["impersonator_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Not a batch: on SQLite a batch copies the table, and the copy would lose the
    # flood rows' expression index, which cannot be reflected there.
    op.add_column("auth_events", sa.Column("actor_id", sa.Uuid(), nullable=True))
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    if postgresql:
        op.create_index("ix_users_email_bytewise", "users", [sa.text('(email) COLLATE "C"')])
        op.create_index(
            "ix_users_name_prefix", "users", [sa.text('(lower(name)) COLLATE "C"'), "id"]
        )
    else:
        op.create_index("ix_users_name_prefix", "users", [sa.text("lower(name)"), "id"])
    op.create_index(
        "ix_auth_events_type_created_at", "auth_events", ["event_type", "created_at", "id"]
    )
    op.create_index(
        "ix_auth_events_ip_created_at", "auth_events", ["ip_address", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_auth_events_ip_created_at", table_name="auth_events")
    op.drop_index("ix_auth_events_type_created_at", table_name="auth_events")
    op.drop_index("ix_users_name_prefix", table_name="users")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_users_email_bytewise", table_name="users")
    op.drop_index("ix_users_created_at_id", table_name="users")
    op.drop_column("auth_events", "actor_id")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("fk_sessions_impersonator_id_users", type_="foreignkey")
        batch.drop_column("impersonator_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_until")
        batch.drop_column("disabled_reason")
        batch.drop_column("role")
