"""Batched deletes of rows nothing needs any more (see services/retention.py).

Each function deletes at most `limit` rows, chosen by primary key with a LIMIT, and
returns how many it deleted: the caller commits after each batch, so no statement
holds its locks for long however many rows are due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from authapi.models import (
    AuthEvent,
    AuthSession,
    Invitation,
    KnownDevice,
    Link,
    MailStatus,
    OAuthFlow,
    OutboxMessage,
    RefreshToken,
    WebAuthnCeremony,
)

FINISHED_MAIL = (MailStatus.SENT.value, MailStatus.DROPPED.value)


def _session_ended(cutoff: datetime) -> ColumnElement[bool]:
    """Expired or revoked before `cutoff` (every token of the session long dead)."""
    return or_(col(AuthSession.expires_at) < cutoff, col(AuthSession.revoked_at) < cutoff)


def _delete_batch(session: Session, model: Any, chosen: Select[Any]) -> int:
    result = session.execute(
        delete(model).where(col(model.id).in_(chosen.scalar_subquery())),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_refresh_tokens_of_ended_sessions(session: Session, cutoff: datetime, limit: int) -> int:
    """First, and in batches of their own: a long-lived session may hold thousands
    of spent refresh tokens, which the foreign key's cascade would delete in one go."""
    chosen = (
        sa_select(col(RefreshToken.id))
        .join(AuthSession, col(AuthSession.id) == col(RefreshToken.session_id))
        .where(_session_ended(cutoff))
        .limit(limit)
    )
    return _delete_batch(session, RefreshToken, chosen)


def delete_ended_sessions(session: Session, cutoff: datetime, limit: int) -> int:
    chosen = sa_select(col(AuthSession.id)).where(_session_ended(cutoff)).limit(limit)
    return _delete_batch(session, AuthSession, chosen)


def delete_spent_links(session: Session, now: datetime, limit: int) -> int:
    """Used or expired: no request can use them again."""
    chosen = (
        sa_select(col(Link.id))
        .where(or_(col(Link.used_at).is_not(None), col(Link.expires_at) <= now))
        .limit(limit)
    )
    return _delete_batch(session, Link, chosen)


def delete_spent_oauth_flows(session: Session, now: datetime, limit: int) -> int:
    """Social sign-in trips that came back or never will: their state is good once."""
    chosen = (
        sa_select(col(OAuthFlow.id))
        .where(or_(col(OAuthFlow.used_at).is_not(None), col(OAuthFlow.expires_at) <= now))
        .limit(limit)
    )
    return _delete_batch(session, OAuthFlow, chosen)


def delete_spent_ceremonies(session: Session, now: datetime, limit: int) -> int:
    """Passkey challenges answered or expired: each is good once."""
    chosen = (
        sa_select(col(WebAuthnCeremony.id))
        .where(
            or_(
                col(WebAuthnCeremony.used_at).is_not(None),
                col(WebAuthnCeremony.expires_at) <= now,
            )
        )
        .limit(limit)
    )
    return _delete_batch(session, WebAuthnCeremony, chosen)


def delete_ended_invitations(session: Session, now: datetime, limit: int) -> int:
    """Invitations past their end: accepted, revoked or not, none works any more (the
    audit trail keeps what happened)."""
    chosen = sa_select(col(Invitation.id)).where(col(Invitation.expires_at) <= now).limit(limit)
    return _delete_batch(session, Invitation, chosen)


def delete_forgotten_devices(session: Session, before: datetime, limit: int) -> int:
    """Devices not signed in from since `before`: a sign-in from one again is a new
    device's (services/devices.REMEMBERED_FOR)."""
    chosen = (
        sa_select(col(KnownDevice.id)).where(col(KnownDevice.last_seen_at) < before).limit(limit)
    )
    return _delete_batch(session, KnownDevice, chosen)


def delete_finished_mail(
    session: Session, finished_before: datetime, failed_before: datetime, limit: int
) -> int:
    """Sent or dropped mail, and mail that failed for good a while ago. Queued rows
    (retries included) are never touched."""
    chosen = (
        sa_select(col(OutboxMessage.id))
        .where(
            or_(
                and_(
                    col(OutboxMessage.status).in_(FINISHED_MAIL),
                    col(OutboxMessage.sent_at) < finished_before,
                ),
                and_(
                    col(OutboxMessage.status) == MailStatus.FAILED.value,
                    col(OutboxMessage.next_attempt_at) < failed_before,
                ),
            )
        )
        .limit(limit)
    )
    return _delete_batch(session, OutboxMessage, chosen)


def delete_old_auth_events(session: Session, cutoff: datetime, limit: int) -> int:
    chosen = sa_select(col(AuthEvent.id)).where(col(AuthEvent.created_at) < cutoff).limit(limit)
    return _delete_batch(session, AuthEvent, chosen)
