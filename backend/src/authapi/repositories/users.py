from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from authapi.models import User


class EmailAlreadyStored(Exception):
    """The unique index on `users.email` refused the row."""


def get_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def add(session: Session, user: User) -> User:
    """Insert and flush so that a duplicate email surfaces here, not at commit.

    The unique index decides between two concurrent signups; a savepoint keeps the
    request's transaction usable after the loser's insert fails.
    """
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise EmailAlreadyStored from exc
    return user


def update_if_unchanged(session: Session, user: User, **values: Any) -> bool:
    """Write `values` only if the password hash and the active flag are still those
    this session read: a login hashes for 200 ms or more after its read, and a
    password change or a disable meanwhile must win over it. One conditional UPDATE
    (PostgreSQL re-checks it after a concurrent writer commits; SQLite serialises
    writers); False when the row changed. `user` takes the values without being
    marked changed."""
    result = session.execute(
        update(User)
        .where(
            col(User.id) == user.id,
            col(User.password_hash) == user.password_hash,
            col(User.is_active),
        )
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():
        set_committed_value(user, name, value)
    return True


def set_password_hash(session: Session, user: User, password_hash: str | None) -> None:
    user.password_hash = password_hash
    session.add(user)
    session.flush()


def set_active(session: Session, user: User, *, active: bool) -> None:
    user.is_active = active
    session.add(user)
    session.flush()


def set_totp(
    session: Session,
    user: User,
    *,
    sealed_secret: str | None,
    enabled: bool,
    enrolled_unverified: bool = False,
) -> None:
    """A pending setup (a secret, not enabled), the factor on, or off (no secret).
    `enrolled_unverified` (kept only while the factor is on): it went on while the
    address was unverified."""
    user.totp_secret = sealed_secret
    user.mfa_enabled = enabled
    user.mfa_enrolled_unverified = enabled and enrolled_unverified
    if not enabled:
        user.totp_last_step = None
    session.add(user)
    session.flush()


def advance_totp_step(session: Session, user_id: uuid.UUID, step: int) -> bool:
    """Record `step` as the last accepted one if it is later than the last: one
    conditional UPDATE, so of two concurrent uses of one code one wins (PostgreSQL
    re-checks the condition after the winner commits; SQLite serialises writers)."""
    result = session.execute(
        update(User)
        .where(
            col(User.id) == user_id,
            or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
        )
        .values(totp_last_step=step)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def get_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def save(session: Session, user: User) -> None:
    """Write the user's changed fields now; a changed email may hit the unique index,
    which then surfaces here as EmailAlreadyStored (inside a savepoint)."""
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise EmailAlreadyStored from exc


def delete(session: Session, user: User) -> None:
    session.delete(user)
    session.flush()


def list_newest(session: Session, limit: int, email_contains: str | None = None) -> list[User]:
    """Newest first; `email_contains` is matched literally (`%` and `_` included)."""
    query = select(User)
    if email_contains:
        query = query.where(col(User.email).contains(email_contains, autoescape=True))
    query = query.order_by(col(User.created_at).desc(), col(User.id).desc()).limit(limit)
    return list(session.exec(query).all())
