from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from authapi.models import Passkey


class PasskeyAlreadyStored(Exception):
    """The credential id is registered already (to this user or another)."""


def add(session: Session, passkey: Passkey) -> Passkey:
    try:
        with session.begin_nested():
            session.add(passkey)
            session.flush()
    except IntegrityError:
        raise PasskeyAlreadyStored from None
    return passkey


def get_by_credential_id(session: Session, credential_id: str) -> Passkey | None:
    return session.exec(select(Passkey).where(Passkey.credential_id == credential_id)).first()


def get_for_user(session: Session, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey | None:
    return session.exec(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    ).first()


def list_for_user(session: Session, user_id: uuid.UUID) -> Sequence[Passkey]:
    return session.exec(
        select(Passkey).where(Passkey.user_id == user_id).order_by(col(Passkey.created_at))
    ).all()


def record_use(
    session: Session, passkey: Passkey, old_count: int, new_count: int, now: datetime
) -> bool:
    """Store the new signature counter if nobody moved it meanwhile: of two assertions
    racing with the same counter, one wins."""
    result = session.execute(
        update(Passkey)
        .where(col(Passkey.id) == passkey.id, col(Passkey.sign_count) == old_count)
        .values(sign_count=new_count, last_used_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def remove(session: Session, passkey: Passkey) -> None:
    session.execute(delete(Passkey).where(col(Passkey.id) == passkey.id))


def remove_unproven(session: Session, user_id: uuid.UUID) -> int:
    """Delete the user's passkeys added while the address was unverified."""
    result = session.execute(
        delete(Passkey).where(
            col(Passkey.user_id) == user_id, col(Passkey.enrolled_unverified).is_(True)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_for_user(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(delete(Passkey).where(col(Passkey.user_id) == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
