"""second factor: remember whether it was enrolled before the address was verified

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Adds `users.mfa_enrolled_unverified` (false for everyone by default). A password reset
by link takes off a factor with the flag on: it went on before anyone proved the
address, so it may be a squatter's. Backfilled true for users with the factor on and
- the address still unverified, or
- the address verified only after the current enrolment (the newest `mfa_enabled`
  audit row): `email_verified_at` is later and no row that verifies the address
  (`email_verified`, `password_reset`, `email_changed`) comes at or before it.
The second test is what keeps a factor enrolled on a verified address whose email
changed later (which re-sets `email_verified_at`) from being taken for a squatter's.
Users with the factor on but no `mfa_enabled` row left (pruned) and a verified address
keep the default (false: the contract's "a reset keeps the factor"). Downgrade drops
the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit rows that leave the address verified (a reset link reached the inbox, an
# email-change link sets a proven address).
VERIFYING_EVENTS = ("email_verified", "password_reset", "email_changed")

users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email_verified_at", sa.DateTime(timezone=True)),
    sa.column("mfa_enabled", sa.Boolean()),
    sa.column("mfa_enrolled_unverified", sa.Boolean()),
)
auth_events = sa.table(
    "auth_events",
    sa.column("user_id", sa.Uuid()),
    sa.column("event_type", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "mfa_enrolled_unverified", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    enabled = auth_events.alias("enabled")
    enrolled_at = (
        sa.select(sa.func.max(enabled.c.created_at))
        .where(enabled.c.user_id == users.c.id, enabled.c.event_type == "mfa_enabled")
        .correlate(users)  # to the updated row, also from inside the EXISTS below
        .scalar_subquery()
    )
    verifying = auth_events.alias("verifying")
    verified_before = sa.exists().where(
        verifying.c.user_id == users.c.id,
        verifying.c.event_type.in_(VERIFYING_EVENTS),
        verifying.c.created_at <= enrolled_at,
    )
    op.execute(
        users.update()
        .where(
            users.c.mfa_enabled == sa.true(),
            sa.or_(
                users.c.email_verified_at.is_(None),
                sa.and_(users.c.email_verified_at > enrolled_at, ~verified_before),
            ),
        )
        .values(mfa_enrolled_unverified=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("mfa_enrolled_unverified")
