"""Mail delivery: the outbox sender (its transports are in mail_transports.py).

Each process runs one sender thread (and MAIL_CONCURRENCY threads it sends with).
Requests only insert rows into `mail_outbox`; the sender claims due rows (each row
by one sender across workers and instances), composes, sends, and records the
outcome. A failed attempt is retried with
exponential backoff up to MAIL_MAX_ATTEMPTS, so an SMTP outage delays mail but
never fails or slows a request.

Delivery is at least once, not exactly once, in one case only: if a process dies
after the SMTP server accepted a message and before the row is marked sent, the
claim expires and another sender sends it again (with the same Message-ID, which a
receiving server may use to drop the copy). A database that is away when the send
is recorded is no such case: the sender keeps what it sent and records it when the
database is back, before it claims anything (see _Ledger), and releases the claims
it did not get to, so that they are sent at once rather than when they expire.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from authapi import metrics
from authapi.db import read_session
from authapi.mail_transports import (
    SMTP_TIMEOUT_SECONDS,
    TRUST_IDLE_SECONDS,
    Transport,
    permanent,
)
from authapi.models import MailStatus, OutboxMessage
from authapi.models.base import utcnow
from authapi.repositories import outbox

logger = logging.getLogger(__name__)

# A claim outlives any SMTP conversation, so a live sender never loses its claim
# (MAIL_CLAIM_SECONDS; a message whose claim would end within one conversation is
# given back, not sent).
CLAIM_SECONDS = 120
WAKE_DELAY_SECONDS = 0.05
BATCH_SIZE = 20
# How often an idle sender looks for mail queued by other processes, or due again.
POLL_SECONDS = 1.0
MAX_RETRY_SECONDS = 3600


Composer = Callable[[Session, OutboxMessage], EmailMessage | None]


class _Ledger:
    """What a sender has in hand that the database does not know yet, once it has
    lost its connection: messages the SMTP server accepted but not yet recorded as
    sent, and claims it will not get to. It tells the database first thing when the
    database is back, before it claims anything, so that neither a sent message is
    sent again when its claim expires nor an unsent one waits the claim out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: dict[uuid.UUID, datetime] = {}  # message id -> when it was accepted
        self.held: dict[uuid.UUID, datetime] = {}  # message id -> the claim's end
        self.tried: set[uuid.UUID] = set()  # held messages whose SMTP attempt was made

    def claim(self, messages: list[OutboxMessage], until: datetime) -> None:
        with self._lock:
            self.held.update(dict.fromkeys((m.id for m in messages), until))

    def tried_to_send(self, message_id: uuid.UUID) -> None:
        with self._lock:
            self.tried.add(message_id)

    def done(self, message_id: uuid.UUID) -> None:
        with self._lock:
            self.held.pop(message_id, None)
            self.tried.discard(message_id)

    def sent_unrecorded(self, message_id: uuid.UUID, at: datetime) -> None:
        with self._lock:
            self.sent[message_id] = at
        self.done(message_id)

    def settle(self, engine: Engine) -> None:
        """Record the sends and release the claims, in one transaction; raises
        SQLAlchemyError (and keeps everything) while the database is still away."""
        with self._lock:
            sent, held, tried = dict(self.sent), dict(self.held), set(self.tried)
        if not sent and not held:
            return
        with Session(engine) as session:
            for message_id, at in sent.items():
                outbox.mark_done(session, message_id, MailStatus.SENT, at)
            outbox.release(session, held, untried=set(held) - tried)
            session.commit()
        with self._lock:
            for message_id in sent:
                self.sent.pop(message_id, None)
            for message_id in held:
                self.held.pop(message_id, None)
                self.tried.discard(message_id)
        if sent:
            metrics.MAIL_SENT.inc(len(sent))
            logger.info("mail sender: recorded %d message(s) sent during the outage", len(sent))
        if held:
            logger.info("mail sender: gave back %d claim(s) it did not use", len(held))


class OutboxSender:
    def __init__(
        self,
        engine: Engine,
        *,
        compose: Composer,
        transport: Transport,
        doorbell: threading.Event,
        max_attempts: int,
        retry_seconds: float,
        concurrency: int = 1,
        claim_seconds: float = CLAIM_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._compose = compose
        self._transport = transport
        self._doorbell = doorbell
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._concurrency = concurrency
        self._claim = timedelta(seconds=claim_seconds)
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ledger = _Ledger()
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = SMTP_TIMEOUT_SECONDS + 5) -> None:
        """Finish the messages in hand and stop; what is still queued stays queued.
        What an outage left unrecorded is recorded if the database is back by now:
        otherwise those messages are sent again when their claims expire."""
        self._stopping.set()
        self._doorbell.set()
        if self._thread is not None:
            self._thread.join(timeout)
            stuck, self._thread = self._thread.is_alive(), None
            if stuck:  # in an SMTP conversation still: its messages' claims will expire
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                return
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # idle: the loop waited for every send
            self._pool = None
        try:
            self._ledger.settle(self._engine)
        except SQLAlchemyError:
            logger.warning(
                "mail sender: stopped with %d sent message(s) unrecorded (the database is "
                "away): they will be sent again",
                len(self._ledger.sent),
            )
        self._transport.close()

    def _run(self) -> None:
        database_down = False
        while not self._stopping.is_set():
            self._doorbell.clear()
            try:
                claimed = self.deliver_due()
            except SQLAlchemyError as exc:
                # Once per outage, not once a second: the health check reports it too.
                if not database_down:
                    logger.warning("mail sender: database unavailable (%s)", type(exc).__name__)
                database_down = True
                claimed = 0
            except Exception:
                logger.exception("mail sender: unexpected error")
                claimed = 0
            else:
                if database_down:
                    logger.info("mail sender: database reachable again")
                database_down = False
            if not claimed:
                self._transport.close(TRUST_IDLE_SECONDS)  # none kept open long
                if self._doorbell.wait(POLL_SECONDS) and not self._stopping.is_set():
                    # Rung by a commit whose response is still on its way out: start a
                    # moment later, so that sending (composing, minting the link, SMTP)
                    # does not slow that response. A forgot request that queued a real
                    # mail then answers as fast as one whose message will be dropped.
                    self._stopping.wait(WAKE_DELAY_SECONDS)

    def deliver_due(self) -> int:
        """Claim the due messages and deliver them, `concurrency` at a time; returns
        how many were claimed. First, whatever an outage left in hand is settled:
        raises SQLAlchemyError while the database is still away."""
        self._ledger.settle(self._engine)
        now = self._clock()
        with read_session(self._engine) as session:
            due = outbox.next_due(session)
        if due is None or due > now:
            return 0
        lease_until = now + self._claim
        with Session(self._engine, expire_on_commit=False) as session:
            claimed = outbox.claim_due(session, now, lease_until, BATCH_SIZE)
            session.commit()
        self._ledger.claim(claimed, lease_until)
        # Past this, a conversation could outlast the claim and another sender take the
        # message meanwhile: what is left is given back instead (released below).
        send_by = lease_until - timedelta(seconds=SMTP_TIMEOUT_SECONDS)
        if self._concurrency > 1 and len(claimed) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="mail")
            outcomes = list(self._pool.map(lambda m: self._deliver(m, send_by), claimed))
        else:
            outcomes = [self._deliver(message, send_by) for message in claimed]
        lost = next((outcome for outcome in outcomes if outcome is not None), None)
        if lost is not None:
            raise lost  # after every message was tried: the ledger keeps the rest
        self._ledger.settle(self._engine)  # claims given back, if any
        return len(claimed)

    def _deliver(self, message: OutboxMessage, send_by: datetime) -> SQLAlchemyError | None:
        """Deliver one claimed message; the database's error if it went away (what
        was in hand is in the ledger then)."""
        if self._stopping.is_set() or self._clock() > send_by:
            return None  # stays held: released when the ledger is settled
        try:
            self._deliver_once(message)
        except SQLAlchemyError as exc:
            return exc
        return None

    def _deliver_once(self, message: OutboxMessage) -> None:
        kind = message.kind
        try:
            with Session(self._engine) as session:
                mail = self._compose(session, message)
                if mail is None:
                    outbox.mark_done(session, message.id, MailStatus.DROPPED, self._clock())
                session.commit()
        except SQLAlchemyError:
            raise  # the database is away: the ledger releases the claim when it is back
        except Exception as exc:  # a message that cannot be composed never will be
            logger.exception("mail %s (%s): cannot be composed", message.id, kind)
            self._ledger.tried_to_send(message.id)
            self._failed(message, exc, permanent=True)
            return
        if mail is None:
            self._ledger.done(message.id)
            logger.info("mail %s (%s): nothing to send any more; dropped", message.id, kind)
            return
        self._ledger.tried_to_send(message.id)
        try:
            self._transport.send(mail)
        except Exception as exc:  # whatever went wrong, the attempt is recorded
            self._failed(message, exc, permanent=permanent(exc))
            return
        sent_at = self._clock()
        try:
            with Session(self._engine) as session:
                outbox.mark_done(session, message.id, MailStatus.SENT, sent_at)
                session.commit()
        except SQLAlchemyError:
            self._ledger.sent_unrecorded(message.id, sent_at)
            logger.warning(
                "mail %s (%s) delivered; recording it waits for the database", message.id, kind
            )
            raise
        self._ledger.done(message.id)
        metrics.MAIL_SENT.inc()
        logger.info("mail %s (%s) delivered", message.id, kind)

    def _failed(self, message: OutboxMessage, exc: Exception, *, permanent: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"[:200]
        retry_at: datetime | None = None
        if message.attempts < self._max_attempts and not permanent:
            delay = min(self._retry_seconds * 2 ** (message.attempts - 1), MAX_RETRY_SECONDS)
            retry_at = self._clock() + timedelta(seconds=delay)
        with Session(self._engine) as session:
            outbox.mark_failed(session, message.id, error, retry_at)
            session.commit()
        self._ledger.done(message.id)
        metrics.MAIL_SEND_FAILURES.labels("gave_up" if retry_at is None else "retry").inc()
        if retry_at is None:
            logger.error(
                "mail %s: attempt %d failed (%s); giving up", message.id, message.attempts, error
            )
        else:
            logger.warning(
                "mail %s: attempt %d failed (%s); retrying at %s",
                message.id,
                message.attempts,
                error,
                retry_at.isoformat(timespec="seconds"),
            )
