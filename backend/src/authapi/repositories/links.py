from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from authapi.models import Link, LinkPurpose


def add(session: Session, link: Link) -> Link:
    session.add(link)
    session.flush()
    return link


def find_usable(
    session: Session, token_hash: str, purposes: Collection[LinkPurpose], now: datetime
) -> Link | None:
    """The unused, unexpired link with this token hash and one of these purposes."""
    return session.exec(
        select(Link).where(
            Link.token_hash == token_hash,
            col(Link.purpose).in_([purpose.value for purpose in purposes]),
            col(Link.used_at).is_(None),
            col(Link.expires_at) > now,
        )
    ).first()


def consume(session: Session, link_id: uuid.UUID, now: datetime) -> bool:
    """Mark the link used if nobody has yet: of two concurrent uses, one wins.

    One conditional UPDATE: PostgreSQL's row lock makes the loser re-check
    `used_at` after the winner commits; SQLite serialises writers (BEGIN IMMEDIATE).
    """
    result = session.execute(
        update(Link)
        .where(col(Link.id) == link_id, col(Link.used_at).is_(None), col(Link.expires_at) > now)
        .values(used_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def void(
    session: Session,
    user_id: uuid.UUID,
    purposes: Collection[LinkPurpose],
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """Delete the user's outstanding links of these purposes (but `keep`): they can
    never be used."""
    statement = delete(Link).where(
        col(Link.user_id) == user_id,
        col(Link.purpose).in_([purpose.value for purpose in purposes]),
        col(Link.used_at).is_(None),
    )
    if keep is not None:
        statement = statement.where(col(Link.id) != keep)
    session.execute(statement)


def delete_for_user(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(Link).where(col(Link.user_id) == user_id))


def set_code_hash(session: Session, link: Link, code_hash: str) -> None:
    link.code_hash = code_hash
    session.add(link)
    session.flush()


def latest_usable(
    session: Session, user_id: uuid.UUID, purpose: LinkPurpose, now: datetime
) -> Link | None:
    """The user's newest unused, unexpired link of this purpose (a newer one voids
    the older ones anyway)."""
    return session.exec(
        select(Link)
        .where(
            col(Link.user_id) == user_id,
            col(Link.purpose) == purpose.value,
            col(Link.used_at).is_(None),
            col(Link.expires_at) > now,
        )
        .order_by(col(Link.created_at).desc())
    ).first()


def count_wrong_code(session: Session, link_id: uuid.UUID, limit: int) -> None:
    """One more wrong code; at `limit`, the link is voided (used up, its token too)."""
    session.execute(
        update(Link)
        .where(col(Link.id) == link_id)
        .values(code_attempts=col(Link.code_attempts) + 1)
    )
    session.execute(delete(Link).where(col(Link.id) == link_id, col(Link.code_attempts) >= limit))
