from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from authapi.models.identity import Identity


class IdentityAlreadyStored(Exception):
    """(provider, subject) is someone's already: a concurrent sign-in got there first."""


def get(session: Session, provider: str, subject: str) -> Identity | None:
    return session.exec(
        select(Identity).where(Identity.provider == provider, Identity.subject == subject)
    ).first()


def add(session: Session, identity: Identity) -> Identity:
    try:
        with session.begin_nested():
            session.add(identity)
            session.flush()
    except IntegrityError:
        raise IdentityAlreadyStored from None
    return identity


def list_for_user(session: Session, user_id: uuid.UUID) -> Sequence[Identity]:
    return session.exec(
        select(Identity).where(Identity.user_id == user_id).order_by(col(Identity.created_at))
    ).all()


def count_for_user(session: Session, user_id: uuid.UUID) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Identity).where(Identity.user_id == user_id)
        ).one()
    )


def remove(session: Session, user_id: uuid.UUID, identity_id: uuid.UUID) -> bool:
    """Delete this user's identity; false when it is not theirs (or not there)."""
    result = session.execute(
        delete(Identity).where(col(Identity.id) == identity_id, col(Identity.user_id) == user_id)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def delete_for_user(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(Identity).where(col(Identity.user_id) == user_id))
