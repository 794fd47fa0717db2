from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from authapi.models import AuthEvent
from authapi.models.auth_event import FLOOD_KEY, FLOOD_ROWS


def add(session: Session, event: AuthEvent) -> AuthEvent:
    session.add(event)
    session.flush()
    return event


def add_to_flood_row(session: Session, event: AuthEvent) -> None:
    """Insert the flood row of the event's key, or add one to its count if it exists.

    One INSERT .. ON CONFLICT DO UPDATE: atomic on PostgreSQL and SQLite, so concurrent
    requests with one key never fail on the unique index and no count is lost.
    """
    if event.bucket is None:
        raise ValueError("a flood row needs its bucket")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {column: getattr(event, column) for column in AuthEvent.model_fields}
    statement = (
        insert(AuthEvent)
        .values(values)
        .on_conflict_do_update(
            index_elements=FLOOD_KEY,
            index_where=FLOOD_ROWS,
            set_={"count": col(AuthEvent.count) + 1},
        )
    )
    session.execute(statement)


def commit_without_waiting_for_disk(session: Session) -> None:
    """PostgreSQL: this transaction's commit returns before its WAL reaches the disk
    (`synchronous_commit = off`, this transaction only). A crash can then lose the
    last fraction of a second of it, never corrupt anything. SQLite (WAL with
    synchronous=NORMAL) already commits so."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def list_for_user(
    session: Session,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[AuthEvent]:
    """Newest first; `before` is the (created_at, id) of the last row already seen."""
    query = select(AuthEvent).where(AuthEvent.user_id == user_id)
    if before is not None:
        created_at, event_id = before
        query = query.where(
            or_(
                col(AuthEvent.created_at) < created_at,
                and_(col(AuthEvent.created_at) == created_at, col(AuthEvent.id) < event_id),
            )
        )
    query = query.order_by(col(AuthEvent.created_at).desc(), col(AuthEvent.id).desc())
    return list(session.exec(query.limit(limit)).all())


def erase_email(session: Session, user_id: uuid.UUID, email: str) -> None:
    """Forget the address in the trail of a deleted account; the rows stay. A flood
    row leaves its key too (bucket null): two rows of one minute whose addresses are
    both erased would otherwise collide on it."""
    session.execute(
        update(AuthEvent)
        .where(or_(col(AuthEvent.user_id) == user_id, col(AuthEvent.email) == email))
        .values(email=None, bucket=None)
    )
