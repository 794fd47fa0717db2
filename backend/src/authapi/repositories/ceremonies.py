from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from authapi.models import WebAuthnCeremony


def add(session: Session, ceremony: WebAuthnCeremony) -> None:
    session.add(ceremony)


def spend(
    session: Session, token_hash: str, purpose: str, now: datetime
) -> WebAuthnCeremony | None:
    """The live ceremony with this handle and purpose, marked used; None when there is
    none or another request spent it first."""
    ceremony = session.exec(
        select(WebAuthnCeremony).where(
            WebAuthnCeremony.token_hash == token_hash,
            WebAuthnCeremony.purpose == purpose,
            col(WebAuthnCeremony.used_at).is_(None),
            col(WebAuthnCeremony.expires_at) > now,
        )
    ).first()
    if ceremony is None:
        return None
    result = session.execute(
        update(WebAuthnCeremony)
        .where(col(WebAuthnCeremony.id) == ceremony.id, col(WebAuthnCeremony.used_at).is_(None))
        .values(used_at=now)
    )
    return ceremony if int(result.rowcount) == 1 else None  # type: ignore[attr-defined]
