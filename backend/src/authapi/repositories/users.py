from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from authapi.models import User
from authapi.models.base import bytewise
from authapi.models.user import UserRole


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
    """Write `values` only if the password hash and the disabled state are still those
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
            col(User.is_active) == user.is_active,
            col(User.disabled_until).is_not_distinct_from(user.disabled_until),
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


def set_active(
    session: Session,
    user: User,
    *,
    active: bool,
    reason: str | None = None,
    until: datetime | None = None,
) -> None:
    """On or off; off with an optional reason and end (enabling clears both)."""
    user.is_active = active
    user.disabled_reason = None if active else reason
    user.disabled_until = None if active else until
    session.add(user)
    session.flush()


def set_role(session: Session, user: User, role: str) -> None:
    user.role = role
    session.add(user)
    session.flush()


def _usable(now: datetime) -> ColumnElement[bool]:
    """Not disabled at `now` (models.user.disabled_at in SQL)."""
    return or_(col(User.is_active), col(User.disabled_until) <= now)


def lock_admins(session: Session, now: datetime) -> None:
    """Lock every usable admin's row (PostgreSQL; SQLite's write lock already
    serialises the writers) before one of them loses the role: of two admins demoting
    each other at once, the second then counts after the first has committed.

    `FOR NO KEY UPDATE`, not `FOR UPDATE`: the rows' key is not changing, and a
    foreign-key check on them (the mail sender inserting a link for an admin, while
    this transaction waits on that sender's outbox row) takes `FOR KEY SHARE`, which
    `FOR UPDATE` would block: a deadlock, seen as a 503."""
    session.execute(
        sa_select(col(User.id))
        .where(col(User.role) == UserRole.ADMIN, _usable(now))
        .order_by(col(User.id))
        .with_for_update(key_share=True)
    ).all()


def count_usable_admins(session: Session, now: datetime) -> int:
    return int(
        session.execute(
            sa_select(func.count())
            .select_from(User)
            .where(col(User.role) == UserRole.ADMIN, _usable(now))
        ).scalar_one()
    )


def _next_prefix(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix`, in code point
    order (UTF-8's byte order); None when there is none."""
    for end in range(len(prefix) - 1, -1, -1):
        point = ord(prefix[end]) + 1
        if 0xD800 <= point <= 0xDFFF:  # surrogates are not characters: skip them
            point = 0xE000
        if point <= 0x10FFFF:
            return prefix[:end] + chr(point)
    return None


def _starts_with(expression: Any, prefix: str) -> ColumnElement[bool]:
    """`expression` (compared byte by byte) starts with `prefix`, as a range an index
    can scan: no `LIKE` pattern is built from what an admin typed."""
    high = _next_prefix(prefix)
    low = expression >= prefix
    return and_(low, expression < high) if high is not None else low


# A prefix search's place in its order: the key (the email, or the lower-cased name,
# that matched) and the user's id.
SearchKey = tuple[str, uuid.UUID]


def search(
    session: Session, prefix: str, limit: int, after: SearchKey | None = None
) -> list[tuple[SearchKey, User]]:
    """The users whose email or lower-cased name starts with `prefix` (lower-case),
    ordered by the value that matched (then id), after `after`; each with its key.

    Two streams, each an index range read in its index's order and cut at the limit
    (so a prefix that matches a hundred thousand users reads a page of them, not all
    of them): the users whose email matches, and those whose name does but not
    their email (each user comes once). Their merge is one order, by key."""
    rows: list[tuple[SearchKey, User]] = []
    for statement in search_statements(prefix, limit, after):
        rows += [((key, user.id), user) for user, key in session.execute(statement).all()]
    rows.sort(key=lambda row: row[0])
    return [row for row in rows if after is None or row[0] > after][:limit]


def search_statements(
    prefix: str, limit: int, after: SearchKey | None = None
) -> tuple[Select[User, str], Select[User, str]]:
    """search's two statements (their plans are tested on both databases)."""
    email, name = bytewise(col(User.email)), bytewise(func.lower(col(User.name)))
    by_email = select(User, email).where(_starts_with(email, prefix))
    by_name = select(User, name).where(
        _starts_with(name, prefix), not_(_starts_with(email, prefix))
    )
    if after is not None:
        # Emails are unique: from the key on (the one equal to it is filtered by the
        # caller). Names are not: a row value, served by (lower(name), id).
        by_email = by_email.where(email >= after[0])
        by_name = by_name.where(tuple_(name, col(User.id)) > tuple_(*after))
    return (
        by_email.order_by(email).limit(limit + 1),
        by_name.order_by(name, col(User.id)).limit(limit),
    )


def newest(
    session: Session, limit: int, before: tuple[datetime, uuid.UUID] | None = None
) -> list[User]:
    """Every user, newest first, before the (created_at, id) of `before`."""
    return list(session.exec(newest_statement(limit, before)).all())


def newest_statement(
    limit: int, before: tuple[datetime, uuid.UUID] | None = None
) -> SelectOfScalar[User]:
    query = select(User)
    if before is not None:  # a row value: one index range on both databases
        query = query.where(tuple_(col(User.created_at), col(User.id)) < tuple_(*before))
    return query.order_by(col(User.created_at).desc(), col(User.id).desc()).limit(limit)


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
    """Newest first (the console's listing, for the shell); `email_contains` is
    matched literally (`%` and `_` included)."""
    query = newest_statement(limit)
    if email_contains:
        query = query.where(col(User.email).contains(email_contains, autoescape=True))
    return list(session.exec(query).all())
