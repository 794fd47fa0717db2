from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, text, update
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
    return _newest_first(session, [col(AuthEvent.user_id) == user_id], limit, before)


def search(
    session: Session,
    *,
    event_type: str | None,
    ip_address: str | None,
    email: str | None,
    since: datetime | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[AuthEvent]:
    """The whole trail filtered by exact values, newest first (the admin security log).
    Each filter has an index that starts with it, then (created_at, id)."""
    conditions: list[ColumnElement[bool]] = []
    if event_type is not None:
        conditions.append(col(AuthEvent.event_type) == event_type)
    if ip_address is not None:
        conditions.append(col(AuthEvent.ip_address) == ip_address)
    if email is not None:
        conditions.append(col(AuthEvent.email) == email)
    if since is not None:
        conditions.append(col(AuthEvent.created_at) >= since)
    return _newest_first(session, conditions, limit, before)


def _newest_first(
    session: Session,
    conditions: list[ColumnElement[bool]],
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[AuthEvent]:
    query = select(AuthEvent).where(*conditions)
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
