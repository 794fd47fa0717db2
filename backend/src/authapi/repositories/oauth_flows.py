from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from authapi.models.oauth_flow import OAuthFlow


def add(session: Session, flow: OAuthFlow) -> OAuthFlow:
    session.add(flow)
    session.flush()
    return flow


def get_by_state(session: Session, state_hash: str) -> OAuthFlow | None:
    return session.exec(select(OAuthFlow).where(OAuthFlow.state_hash == state_hash)).first()


def consume(session: Session, flow: OAuthFlow, now: datetime) -> bool:
    """Mark the flow used if nobody has yet: of two callbacks with one state, one wins."""
    result = session.execute(
        update(OAuthFlow)
        .where(
            col(OAuthFlow.id) == flow.id,
            col(OAuthFlow.used_at).is_(None),
            col(OAuthFlow.expires_at) > now,
        )
        .values(used_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
