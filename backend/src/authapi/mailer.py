"""Mail delivery: the outbox sender and its transports (the log, or SMTP).

Each process runs one sender thread. Requests only insert rows into `mail_outbox`;
the sender claims due rows (each row by one sender across workers and instances),
composes, sends, and records the outcome. A failed attempt is retried with
exponential backoff up to MAIL_MAX_ATTEMPTS, so an SMTP outage delays mail but
never fails or slows a request.

Delivery is at least once, not exactly once, in one case only: if a process dies
after the SMTP server accepted a message and before the row is marked sent, the
claim expires and another sender sends it again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from authapi import metrics
from authapi.db import read_session
from authapi.models import MailStatus, OutboxMessage
from authapi.models.base import utcnow
from authapi.repositories import outbox

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 15
# A claim outlives any SMTP conversation, so a live sender never loses its claim.
CLAIM_SECONDS = 120
WAKE_DELAY_SECONDS = 0.05
BATCH_SIZE = 20
# How often an idle sender looks for mail queued by other processes, or due again.
POLL_SECONDS = 1.0
MAX_RETRY_SECONDS = 3600
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class ConsoleTransport:
    """`console://`: each mail, link included, is written to the log (development)."""

    def send(self, message: EmailMessage) -> None:
        logger.warning(
            "console:// mail (not sent) to %s, subject %r:\n%s",
            message["To"],
            message["Subject"],
            message.get_content(),
        )


class SmtpTransport:
    """`smtp://` (plain), `smtp+starttls://` (STARTTLS required), `smtps://` (TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or DEFAULT_PORTS[parts.scheme]
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if self._scheme == "smtp+starttls":
                # Raises when the server offers no STARTTLS: never fall back to clear text.
                smtp.starttls(context=context)
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)


def transport_from_url(url: str) -> Transport:
    if url.startswith("console://"):
        return ConsoleTransport()
    return SmtpTransport(url)


Composer = Callable[[Session, OutboxMessage], EmailMessage | None]


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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._compose = compose
        self._transport = transport
        self._doorbell = doorbell
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = SMTP_TIMEOUT_SECONDS + 5) -> None:
        """Finish the message in hand and stop; what is still queued stays queued."""
        self._stopping.set()
        self._doorbell.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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
            if not claimed and self._doorbell.wait(POLL_SECONDS) and not self._stopping.is_set():
                # Rung by a commit whose response is still on its way out: start a moment
                # later, so that sending (composing, minting the link, SMTP) does not slow
                # that response. A forgot request that queued a real mail then answers as
                # fast as one whose message will be dropped.
                self._stopping.wait(WAKE_DELAY_SECONDS)

    def deliver_due(self) -> int:
        """Claim the due messages and deliver them; returns how many were claimed."""
        now = self._clock()
        with read_session(self._engine) as session:
            due = outbox.next_due(session)
        if due is None or due > now:
            return 0
        with Session(self._engine, expire_on_commit=False) as session:
            claimed = outbox.claim_due(
                session, now, now + timedelta(seconds=CLAIM_SECONDS), BATCH_SIZE
            )
            session.commit()
        for message in claimed:
            if self._stopping.is_set():
                break  # the claim expires and the message is sent later
            self._deliver(message)
        return len(claimed)

    def _deliver(self, message: OutboxMessage) -> None:
        kind = message.kind
        try:
            with Session(self._engine) as session:
                mail = self._compose(session, message)
                if mail is None:
                    outbox.mark_done(session, message.id, MailStatus.DROPPED, self._clock())
                session.commit()
        except SQLAlchemyError:
            raise  # the database is down: the claim expires and the message is retried
        except Exception as exc:  # a message that cannot be composed never will be
            logger.exception("mail %s (%s): cannot be composed", message.id, kind)
            self._failed(message, exc, permanent=True)
            return
        if mail is None:
            logger.info("mail %s (%s): nothing to send any more; dropped", message.id, kind)
            return
        try:
            self._transport.send(mail)
        except Exception as exc:  # whatever went wrong, the attempt is recorded
            self._failed(message, exc, permanent=_permanent(exc))
            return
        with Session(self._engine) as session:
            outbox.mark_done(session, message.id, MailStatus.SENT, self._clock())
            session.commit()
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


def _permanent(exc: Exception) -> bool:
    """A 5xx refusal of the recipient, sender or message will be refused again:
    retrying only delays the failure. Everything else (connection refused, timeouts,
    4xx, a failed login after a credentials fix) is worth another attempt."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False
