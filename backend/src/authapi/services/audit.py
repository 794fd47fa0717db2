"""The audit trail. Successes are written in the request's transaction; failures
apart from it (see `failure`), because the request's transaction is rolled back.

A flood must not grow the table without bound: a rejection that names no user (a bad
token, an unknown refresh token, a 429) is counted in one row per type, reason, IP,
email and minute. What a real user did is always a row of its own.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from authapi import metrics
from authapi.models import AuthEvent, AuthEventType
from authapi.models.auth_event import USER_AGENT_MAX_LENGTH
from authapi.models.user import EMAIL_MAX_LENGTH
from authapi.repositories import auth_events
from authapi.services import cursors
from authapi.unit_of_work import UnitOfWork, Write

# Rejections that an anonymous client can repeat as fast as it can send: without a user
# they are counted, not listed. Login failures are not among them: each costs a bcrypt
# check behind the per-IP limit, and each attempted address is worth its own row.
COUNTED_TYPES = frozenset(
    {AuthEventType.TOKEN_REJECTED, AuthEventType.RATE_LIMITED, AuthEventType.TOO_MANY_ATTEMPTS}
)


# What a control character in a stored header value becomes: the replacement
# character, as for any byte that cannot be shown.
REPLACEMENT = "\ufffd"
IP_ADDRESS_MAX_LENGTH = 45
REQUEST_ID_MAX_LENGTH = 64


def storable_text(value: str | None, max_length: int) -> str | None:
    """Header text fit for the audit and session columns, whatever the client sent.

    A request is never refused for its user agent: NUL (which PostgreSQL refuses in
    text) and every other control character become U+FFFD, lone surrogates too,
    and the value is cut to the column's length.
    """
    if value is None:
        return None
    cleaned = "".join(
        REPLACEMENT if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value
    )
    return cleaned[:max_length]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is on the other end of the request, as far as the server can tell.

    These values are the client's to choose (the user agent) or come from headers,
    so they are made storable once, here (see `storable_text`).
    """

    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    # The client as the per-IP limits count it: its address, or an IPv6 client's
    # network (client_address.limit_key). Flood rows count by it too.
    limit_key: str | None = None

    @property
    def requester(self) -> str:
        """Whose count a per-client limit takes (the shell has no address)."""
        return self.limit_key or self.ip_address or "none"

    def __post_init__(self) -> None:
        for name, max_length in (
            ("ip_address", IP_ADDRESS_MAX_LENGTH),
            ("user_agent", USER_AGENT_MAX_LENGTH),
            ("request_id", REQUEST_ID_MAX_LENGTH),
            ("limit_key", IP_ADDRESS_MAX_LENGTH),
        ):
            object.__setattr__(self, name, storable_text(getattr(self, name), max_length))


def _event(
    event_type: AuthEventType,
    client: ClientInfo,
    *,
    user_id: uuid.UUID | None,
    email: str | None,
    reason: str | None,
    actor_id: uuid.UUID | None = None,
) -> AuthEvent:
    metrics.AUTH_EVENTS.labels(event_type.value).inc()
    return AuthEvent(
        event_type=event_type.value,
        user_id=user_id,
        actor_id=actor_id,
        email=email[:EMAIL_MAX_LENGTH] if email else None,
        reason=reason,
        ip_address=client.ip_address,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )


def flood_bucket(when: datetime) -> datetime:
    """The minute a flood row counts."""
    return when.replace(second=0, microsecond=0)


def _counted(event: AuthEvent, event_type: AuthEventType) -> bool:
    return event.user_id is None and event_type in COUNTED_TYPES


def _write(
    session: Session, event: AuthEvent, event_type: AuthEventType, client: ClientInfo
) -> None:
    if _counted(event, event_type):
        # One row for a whole IPv6 network: its holder has 2**64 addresses to send from.
        event.ip_address = client.limit_key or event.ip_address
        event.bucket = flood_bucket(event.created_at)
        auth_events.add_to_flood_row(session, event)
    else:
        auth_events.add(session, event)


def record(
    session: Session,
    event_type: AuthEventType,
    client: ClientInfo,
    *,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    reason: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> None:
    """`actor_id`: the admin who did it to the user, when it was not the user."""
    event = _event(
        event_type, client, user_id=user_id, email=email, reason=reason, actor_id=actor_id
    )
    _write(session, event, event_type, client)


def failure(
    event_type: AuthEventType,
    client: ClientInfo,
    *,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    reason: str | None = None,
) -> Write:
    """A refusal's row, to be written apart from the failing request
    (`UnitOfWork.keep`, or `SideTransactions.try_run` where there is no unit): it must
    survive the request's rollback."""
    event = _event(event_type, client, user_id=user_id, email=email, reason=reason)

    def write(session: Session) -> None:
        if _counted(event, event_type):
            # Every request of a flood updates one row and holds its lock until its
            # commit: not waiting for the disk there answered a bad-token flood on
            # PostgreSQL 20-35% faster (bench/flood.py). A crash may lose the last
            # counts of a flood; nothing else is written in this transaction.
            auth_events.commit_without_waiting_for_disk(session)
        _write(session, event, event_type, client)

    return write


# -- reading the trail ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The admin security log's filters: exact values, and a start time."""

    event_type: str | None = None
    ip_address: str | None = None
    email: str | None = None
    since: datetime | None = None


def events_page(
    uow: UnitOfWork, user_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[AuthEvent], str | None]:
    """A page of the user's trail, newest first, and the cursor of the next page."""
    before = _decode_cursor(cursor) if cursor else None
    rows = auth_events.list_for_user(uow.session, user_id, limit + 1, before)
    return _page(rows, limit)


def search_page(
    uow: UnitOfWork, where: EventFilter, limit: int, cursor: str | None
) -> tuple[list[AuthEvent], str | None]:
    """A page of the whole trail, filtered, newest first."""
    before = _decode_cursor(cursor) if cursor else None
    rows = auth_events.search(
        uow.session,
        event_type=where.event_type,
        ip_address=where.ip_address,
        email=where.email,
        since=where.since,
        limit=limit + 1,
        before=before,
    )
    return _page(rows, limit)


def _page(rows: list[AuthEvent], limit: int) -> tuple[list[AuthEvent], str | None]:
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return page, next_cursor


def _encode_cursor(created_at: datetime, event_id: uuid.UUID) -> str:
    return cursors.encode(created_at.isoformat(), event_id.hex)


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    def parse(text: str) -> tuple[datetime, uuid.UUID]:
        created_at, _, event_id = text.partition("|")
        return cursors.utc_time(created_at), uuid.UUID(hex=event_id)

    return cursors.decode(cursor, parse)
