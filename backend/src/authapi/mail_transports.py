"""How mail leaves: the log (development) or SMTP, with connections kept open
between messages. The outbox sender (mailer.py) decides what to send and when."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

logger = logging.getLogger("authapi.mailer")  # one logger for the mail, as before

SMTP_TIMEOUT_SECONDS = 15
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
# A kept connection idle for longer is asked a NOOP before it is used again.
TRUST_IDLE_SECONDS = 5.0


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self, idle_for: float = 0.0) -> None:
        """Close what is kept open and has been idle for `idle_for` seconds or more."""


class ConsoleTransport:
    """`console://`: each mail, link included, is written to the log (development)."""

    def close(self, idle_for: float = 0.0) -> None:
        pass  # nothing kept open

    def send(self, message: EmailMessage) -> None:
        logger.warning(
            "console:// mail (not sent) to %s, subject %r:\n%s",
            message["To"],
            message["Subject"],
            message.get_content(),
        )


class SmtpTransport:
    """`smtp://` (plain), `smtp+starttls://` (STARTTLS required), `smtps://` (TLS).

    Connections are kept open between messages and reused (one per concurrent
    send): a conversation's greeting, EHLO, TLS and login are paid once per
    connection, not once per mail. One that failed in any way is closed, never
    reused; one that sat idle is checked with a NOOP before it is trusted again.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or DEFAULT_PORTS[parts.scheme]
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # with when each was last used
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        smtp = self._take()
        try:
            smtp.send_message(message)
        except BaseException:
            _quietly_close(smtp)
            raise
        with self._lock:
            self._idle.append((smtp, time.monotonic()))

    def close(self, idle_for: float = 0.0) -> None:
        """Close the connections idle for `idle_for` seconds or more (the sender's
        loop closes those it has not used for a while; its stop, every one)."""
        now = time.monotonic()
        with self._lock:
            stale = [entry for entry in self._idle if now - entry[1] >= idle_for]
            self._idle = [entry for entry in self._idle if now - entry[1] < idle_for]
        for smtp, _ in stale:
            _quietly_close(smtp, polite=True)

    def _take(self) -> smtplib.SMTP:
        while True:
            with self._lock:
                if not self._idle:
                    break
                smtp, last_used = self._idle.pop()
            if time.monotonic() - last_used < TRUST_IDLE_SECONDS:
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
            _quietly_close(smtp)
        return self._connect()

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if self._scheme == "smtp+starttls":
                # Raises when the server offers no STARTTLS: never fall back to clear text.
                smtp.starttls(context=context)
            if self._username:
                smtp.login(self._username, self._password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp


def _quietly_close(smtp: smtplib.SMTP, *, polite: bool = False) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        if polite:
            smtp.quit()
    with contextlib.suppress(OSError):
        smtp.close()


def transport_from_url(url: str) -> Transport:
    if url.startswith("console://"):
        return ConsoleTransport()
    return SmtpTransport(url)


def permanent(exc: Exception) -> bool:
    """A 5xx refusal of the recipient, sender or message will be refused again:
    retrying only delays the failure. Everything else (connection refused, timeouts,
    4xx, a failed login after a credentials fix) is worth another attempt."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False
