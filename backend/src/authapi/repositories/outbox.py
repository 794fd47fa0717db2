from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from authapi.models import MailKind, MailStatus, OutboxMessage

# Messages that carry a one-time link, minted when the message is composed.
LINK_KINDS = (MailKind.VERIFY_EMAIL, MailKind.CHANGE_EMAIL, MailKind.PASSWORD_RESET)


def add(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.add(message)
    session.flush()
    return message


def next_due(session: Session) -> datetime | None:
    """When the earliest queued message is due (claimed ones included): the sender
    sleeps until then, or until woken."""
    return session.exec(
        select(OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status == MailStatus.QUEUED.value)
        .order_by(col(OutboxMessage.next_attempt_at))
        .limit(1)
    ).first()


def queue_stats(session: Session) -> tuple[int, datetime | None]:
    """How many messages are queued, and when the oldest of them was created (the
    status index narrows it to the queued rows)."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == MailStatus.QUEUED.value
        )
    ).one()
    return int(count), oldest


def claim_due(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[OutboxMessage]:
    """Claim up to `limit` due messages for this sender until `lease_until`.

    A message is claimed by exactly one sender: PostgreSQL locks the chosen rows
    with SKIP LOCKED, so concurrent senders pick different ones; SQLite runs the
    UPDATE under BEGIN IMMEDIATE (see db.py), which serialises senders. A sender
    that dies mid-send leaves its claim to expire, and another picks it up.
    """
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == MailStatus.QUEUED.value,
            col(OutboxMessage.next_attempt_at) <= now,
            or_(
                col(OutboxMessage.claimed_until).is_(None),
                col(OutboxMessage.claimed_until) < now,
            ),
        )
        .order_by(col(OutboxMessage.next_attempt_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(due.scalar_subquery()))
        .values(claimed_until=lease_until, attempts=col(OutboxMessage.attempts) + 1)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    )
    return list(claimed.scalars().all())


def mark_done(session: Session, message_id: uuid.UUID, status: MailStatus, now: datetime) -> None:
    """Sent or dropped: the body goes, so the text of a mail does not outlive its sending."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status=status.value, sent_at=now, body=None, claimed_until=None, last_error=None)
    )


def release(session: Session, held: dict[uuid.UUID, datetime], *, untried: set[uuid.UUID]) -> None:
    """Give up claims before they expire (each matched by its end, so a claim that
    expired and was taken by another sender meanwhile is left alone); a message never
    tried gets its attempt back."""
    for message_id, claimed_until in held.items():
        values: dict[str, object] = {"claimed_until": None}
        if message_id in untried:
            values["attempts"] = col(OutboxMessage.attempts) - 1
        session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message_id,
                col(OutboxMessage.status) == MailStatus.QUEUED.value,
                col(OutboxMessage.claimed_until) == claimed_until,
            )
            .values(values)
        )


def mark_failed(
    session: Session, message_id: uuid.UUID, error: str, retry_at: datetime | None
) -> None:
    """Retry at `retry_at`, or give up (and erase the body) when it is None."""
    values: dict[str, object] = {"claimed_until": None, "last_error": error[:200]}
    if retry_at is None:
        values.update(status=MailStatus.FAILED.value, body=None)
    else:
        values["next_attempt_at"] = retry_at
    session.execute(update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(values))


def delete_for_user(session: Session, user_id: uuid.UUID, address: str) -> None:
    """Every message of the user or to their address (a reset asked for it before
    the account existed is kept with no user)."""
    session.execute(
        delete(OutboxMessage).where(
            or_(col(OutboxMessage.user_id) == user_id, col(OutboxMessage.to_address) == address)
        )
    )


def delete_queued_links(session: Session, user_id: uuid.UUID) -> None:
    """The user's link mails not yet sent: their links would be minted when sent."""
    session.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.user_id) == user_id,
            col(OutboxMessage.kind).in_([kind.value for kind in LINK_KINDS]),
            col(OutboxMessage.status) == MailStatus.QUEUED.value,
        )
    )


def hold(session: Session, message_id: uuid.UUID) -> bool:
    """Take the row's lock if the message is still queued (False: it was deleted
    meanwhile). A sender holds it while it mints a link, so that a concurrent
    void_pending either deletes the message first or waits and then voids the link."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.status) == MailStatus.QUEUED.value,
        )
        .values(attempts=col(OutboxMessage.attempts))
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
