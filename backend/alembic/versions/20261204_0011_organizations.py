"""organizations: orgs, their members with roles, and invitations by email

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

`organizations` (a unique slug), `org_memberships` (one row per user and org, with
the role there), `org_invitations` (the hash of the mailed link's token, 7 days),
and `mail_outbox.invitation_id` (the invitation a queued mail is for). Downgrade
drops them all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_organizations_slug", "organizations", ["slug"], unique=True)
    op.create_table(
        "org_memberships",
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_org_memberships_user_id", "org_memberships", ["user_id"])
    op.create_table(
        "org_invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Uuid(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64)),
        sa.Column(
            "invited_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_org_invitations_token_hash", "org_invitations", ["token_hash"], unique=True)
    op.create_index("ix_org_invitations_org_id_email", "org_invitations", ["org_id", "email"])
    op.create_index("ix_org_invitations_expires_at", "org_invitations", ["expires_at"])
    with op.batch_alter_table("mail_outbox") as batch:
        batch.add_column(sa.Column("invitation_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_mail_outbox_invitation_id_org_invitations",
            "org_invitations",
            ["invitation_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox") as batch:
        batch.drop_constraint("fk_mail_outbox_invitation_id_org_invitations", type_="foreignkey")
        batch.drop_column("invitation_id")
    op.drop_table("org_invitations")
    op.drop_table("org_memberships")
    op.drop_table("organizations")
