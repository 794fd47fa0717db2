"""Invitations to organizations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from authapi.models import Invitation


def add(session: Session, invitation: Invitation) -> Invitation:
    session.add(invitation)
    session.flush()
    return invitation


def get(session: Session, invitation_id: uuid.UUID) -> Invitation | None:
    return session.get(Invitation, invitation_id)


def pending(session: Session, org_id: uuid.UUID, now: datetime) -> list[Invitation]:
    """Not accepted, not revoked, not expired; newest first."""
    return list(
        session.exec(
            select(Invitation)
            .where(
                col(Invitation.org_id) == org_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                col(Invitation.expires_at) > now,
            )
            .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
        ).all()
    )


def by_token_hash(session: Session, token_hash: str) -> Invitation | None:
    return session.exec(select(Invitation).where(Invitation.token_hash == token_hash)).first()


def revoke_pending_for(session: Session, org_id: uuid.UUID, email: str, now: datetime) -> None:
    """A new invitation to the same address replaces the earlier ones."""
    session.execute(
        update(Invitation)
        .where(
            col(Invitation.org_id) == org_id,
            col(Invitation.email) == email,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )


def revoke(session: Session, invitation: Invitation, now: datetime) -> None:
    invitation.revoked_at = now
    session.add(invitation)
    session.flush()


def set_token_hash(session: Session, invitation_id: uuid.UUID, token_hash: str) -> None:
    """The link's token, minted when its mail is composed (a resent mail replaces it)."""
    session.execute(
        update(Invitation).where(col(Invitation.id) == invitation_id).values(token_hash=token_hash)
    )


def accept(session: Session, invitation_id: uuid.UUID, now: datetime) -> bool:
    """Spend the invitation if it is still pending: of two concurrent accepts, one
    wins (PostgreSQL re-checks the condition after the winner commits; SQLite
    serialises writers)."""
    result = session.execute(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation_id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .values(accepted_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
