from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete
from sqlmodel import Session, col

from authapi.models import RecoveryCode


def replace(session: Session, user_id: uuid.UUID, code_hashes: Iterable[str]) -> None:
    """The user's codes become exactly these: every earlier code stops working."""
    delete_for_user(session, user_id)
    session.add_all(RecoveryCode(user_id=user_id, code_hash=code_hash) for code_hash in code_hashes)
    session.flush()


def consume(session: Session, user_id: uuid.UUID, code_hash: str) -> bool:
    """Use the code if it is still there: one conditional DELETE, so of two concurrent
    uses of one code one wins (the other finds no row once the winner commits)."""
    result = session.execute(
        delete(RecoveryCode).where(
            col(RecoveryCode.user_id) == user_id, col(RecoveryCode.code_hash) == code_hash
        )
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def delete_for_user(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
