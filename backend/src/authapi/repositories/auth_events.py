from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from authapi.models import AuthEvent


def add(session: Session, event: AuthEvent) -> AuthEvent:
    session.add(event)
    session.flush()
    return event


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
    """Forget the address in the trail of a deleted account; the rows stay."""
    session.execute(
        update(AuthEvent)
        .where(or_(col(AuthEvent.user_id) == user_id, col(AuthEvent.email) == email))
        .values(email=None)
    )
