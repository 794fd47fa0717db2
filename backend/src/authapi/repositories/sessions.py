from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from authapi.models import AuthSession, User


def add(session: Session, auth_session: AuthSession) -> AuthSession:
    session.add(auth_session)
    session.flush()
    return auth_session


def get_with_user(session: Session, session_id: uuid.UUID) -> tuple[AuthSession, User] | None:
    """One primary-key lookup joined to its user: all a protected request needs."""
    row = session.exec(
        select(AuthSession, User)
        .join(User, col(User.id) == col(AuthSession.user_id))
        .where(AuthSession.id == session_id)
    ).first()
    return (row[0], row[1]) if row else None


def list_active(session: Session, user_id: uuid.UUID, now: datetime) -> list[AuthSession]:
    return list(
        session.exec(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
            )
            .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id).desc())
        ).all()
    )


def revoke(session: Session, session_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def revoke_all_for_user(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    result = session.execute(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
