from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from authapi.models import AuthSession, RefreshToken, User
from authapi.models.user import disabled_at


def add(session: Session, token: RefreshToken) -> RefreshToken:
    session.add(token)
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class RefreshLookup:
    """A refresh token with what deciding about it needs: its session and user."""

    token_id: uuid.UUID
    used_at: datetime | None
    session_id: uuid.UUID
    user_id: uuid.UUID
    revoked_at: datetime | None
    expires_at: datetime
    user_active: bool
    user_disabled_until: datetime | None

    def user_disabled(self, now: datetime) -> bool:
        return disabled_at(self.user_active, self.user_disabled_until, now)


_TOKENS = RefreshToken.__table__  # type: ignore[attr-defined]
_SESSIONS = AuthSession.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
_LOOKUP = (
    sa_select(
        _TOKENS.c.id,
        _TOKENS.c.used_at,
        _SESSIONS.c.id,
        _SESSIONS.c.user_id,
        _SESSIONS.c.revoked_at,
        _SESSIONS.c.expires_at,
        _USERS.c.is_active,
        _USERS.c.disabled_until,
    )
    .join(_SESSIONS, _SESSIONS.c.id == _TOKENS.c.session_id)
    .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)


def find(session: Session, token_hash: str) -> RefreshLookup | None:
    row = session.execute(_LOOKUP, {"token_hash": token_hash}).first()
    return RefreshLookup(*row) if row is not None else None


def mark_used(session: Session, token_id: uuid.UUID, now: datetime) -> bool:
    """Retire the token if nobody has yet; of concurrent refreshes, one wins (the
    others wait on the row lock, or SQLite's write lock, then find it used)."""
    result = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.id) == token_id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def used_at(session: Session, token_id: uuid.UUID) -> datetime | None:
    """Read afresh (not from the session's identity map): after losing a race, the
    winner's committed `used_at`."""
    return session.execute(
        sa_select(_TOKENS.c.used_at).where(_TOKENS.c.id == token_id)
    ).scalar_one_or_none()
