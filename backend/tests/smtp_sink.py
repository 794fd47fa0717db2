"""A real SMTP server for the tests: aiosmtpd on a free loopback port.

The app under test sends to it over SMTP exactly as it would to a relay; tests read
what arrived, take the link from a message and follow it over HTTP.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from servers import free_port

LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


# Recipients the server refuses for good (550), as a real server does unknown users.
UNKNOWN_RECIPIENT_PREFIX = "nobody-"


class _Collector:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith(UNKNOWN_RECIPIENT_PREFIX):
            self._mailbox.refused.append(address)
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._mailbox._arrived(message, list(envelope.rcpt_tos))
        return "250 OK"


class Mailbox:
    """An SMTP server that can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refused: list[str] = []
        self._lock = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Mailbox:
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _arrived(self, message: EmailMessage, recipients: list[str]) -> None:
        with self._lock:
            self.messages.append(message)
            self.recipients.append(recipients)
            self._lock.notify_all()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        """The first `count` messages to `address`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [m for m in self.messages if m["To"] == address]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} message(s) to {address}, got {len(found)} "
                        f"within {timeout} s"
                    )
                self._lock.wait(remaining)

    def wait_total(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} message(s), got {len(self.messages)} within {timeout} s"
                    )
                self._lock.wait(remaining)
            return list(self.messages)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "every message has a plain-text part"
    content: Any = part.get_content()
    return str(content)


def link_token(message: EmailMessage) -> str:
    """The `token` parameter of the link in the message's plain-text part."""
    found = LINK_TOKEN.search(body(message))
    assert found is not None, body(message)
    return found.group(1)
