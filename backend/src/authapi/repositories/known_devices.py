"""The devices an account has signed in from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from authapi.models import KnownDevice


def seen_since(session: Session, user_id: uuid.UUID, since: datetime) -> set[tuple[str, str]]:
    """The (family, network) pairs the user signed in from since `since`."""
    rows = session.execute(
        sa_select(col(KnownDevice.family), col(KnownDevice.network)).where(
            col(KnownDevice.user_id) == user_id, col(KnownDevice.last_seen_at) >= since
        )
    ).all()
    return {(family, network) for family, network in rows}


def count(session: Session, user_id: uuid.UUID) -> int:
    return int(
        session.execute(
            sa_select(func.count())
            .select_from(KnownDevice)
            .where(col(KnownDevice.user_id) == user_id)
        ).scalar_one()
    )


def remember(
    session: Session, user_id: uuid.UUID, family: str, network: str, now: datetime
) -> None:
    """Insert the device, or move its last sighting to now: one upsert, so two
    sign-ins from one new device at once never fail on the unique index."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(KnownDevice).values(
        id=uuid.uuid4(),
        user_id=user_id,
        family=family,
        network=network,
        first_seen_at=now,
        last_seen_at=now,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "family", "network"], set_={"last_seen_at": now}
        )
    )


def forget_for_user(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(KnownDevice).where(col(KnownDevice.user_id) == user_id))
