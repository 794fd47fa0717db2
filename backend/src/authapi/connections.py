"""How each connection is served: TCP_NODELAY, deadlines for a request's head and
body (a slow client cannot hold a connection), and accept() failures logged once per
interval rather than thousands of times a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, Literal

import h11
from uvicorn.loops.auto import auto_loop_factory
from uvicorn.protocols.http.h11_impl import H11Protocol

from authapi.config import Settings

logger = logging.getLogger(__name__)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with `TCP_NODELAY` on every accepted connection.

    With `--workers N` uvicorn hands its workers a listening socket created without
    `IPPROTO_TCP`, and asyncio only sets `TCP_NODELAY` on connections accepted from a
    socket with that protocol number (uvicorn issue #3149). Every keep-alive response
    after the first then waits ~40 ms for the client's delayed ACK. Setting the option
    here, per connection, does not depend on how the listener was made.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class DeadlineH11Protocol(NoDelayH11Protocol):
    """A client must send a complete request head within `head_timeout` seconds, and
    then its body within `body_timeout`; otherwise the connection is closed.

    uvicorn alone holds such a connection forever: its only timer (timeout_keep_alive)
    runs between requests and is cancelled by any byte, so a client sending nothing
    after connecting, or one header byte every few seconds, or a body by the byte, keeps
    its descriptor (an outside test held 320 and took /health down). Each deadline runs
    from the start of what is owed (the connection or the end of the previous response
    for a head, the head for a body) and bytes of the same part never extend it. No 408
    is sent: the application may be writing a response at the same moment.
    """

    head_timeout: float = 10.0
    body_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owed: Literal["head", "body"] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start the next (pipelined) request
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._set_deadline(None)

    def _watch(self) -> None:
        """Arm, keep or cancel the deadline for what the client owes now.

        h11 says it: `their_state` is IDLE until a request's head is complete, SEND_BODY
        until its body is, and DONE (or closed) while the response is due from us.
        """
        owed: Literal["head", "body"] | None = None
        # A WebSocket upgrade hands the transport to another protocol: not ours to time.
        if not self.transport.is_closing() and self.transport.get_protocol() is self:
            if self.conn.their_state is h11.IDLE:
                owed = "head"
            elif self.conn.their_state is h11.SEND_BODY:
                owed = "body"
        if owed != self._owed:
            self._set_deadline(owed)

    def _set_deadline(self, owed: Literal["head", "body"] | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._owed = owed
        if owed is not None:
            timeout = self.head_timeout if owed == "head" else self.body_timeout
            self._deadline = self.loop.call_later(timeout, self._expired, owed, timeout)

    def _expired(self, owed: str, timeout: float) -> None:
        self._deadline = None
        # Debug only: under a slow-client attack a line per connection would flood the log.
        logger.debug("closing a connection whose request %s took over %g s", owed, timeout)
        # abort, not close: close would wait to flush a response the client never reads.
        self.transport.abort()


def protocol_for(settings: Settings) -> type[DeadlineH11Protocol]:
    """uvicorn makes each connection's protocol from a class: one per process, set."""

    class ServedH11Protocol(DeadlineH11Protocol):
        head_timeout = float(settings.request_head_timeout_seconds)
        body_timeout = float(settings.request_body_timeout_seconds)

    return ServedH11Protocol


# What asyncio's listener reports when accept() fails for want of descriptors or memory
# (EMFILE, ENFILE, ENOBUFS, ENOMEM). It retries a second later, but until CPython's fix
# of gh-151615 it also goes on calling accept() up to `backlog` times per attempt, each
# reported and each scheduling one more retry: 24 000 reports a second measured here.
ACCEPT_ERROR_MESSAGE = "socket.accept() out of system resource"
ACCEPT_ERROR_LOG_INTERVAL = 10.0


class AcceptErrorLog:
    """A loop exception handler that logs accept() failures once per interval, with the
    count of those it did not log; every other context goes to the default handler.

    asyncio logs each failed retry with a traceback, per listener: an outside test that
    exhausted the descriptor limit grew the log by 77 MB in 30 s, when the disk filling
    up is the last thing a service out of descriptors needs.
    """

    def __init__(self, interval: float = ACCEPT_ERROR_LOG_INTERVAL) -> None:
        self.interval = interval
        self._suppressed = 0
        self._window: asyncio.TimerHandle | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not str(context.get("message", "")).startswith(ACCEPT_ERROR_MESSAGE):
            loop.default_exception_handler(context)
            return
        if self._window is not None:
            self._suppressed += 1
            return
        logger.error(
            "cannot accept connections: %s (out of file descriptors or memory); "
            "further failures are counted and logged every %g s",
            context.get("exception"),
            self.interval,
        )
        self._window = loop.call_later(self.interval, self._end_window, loop)

    def _end_window(self, loop: asyncio.AbstractEventLoop) -> None:
        self._window = None
        if self._suppressed:
            logger.error(
                "accept() failed %d more times in the last %g s", self._suppressed, self.interval
            )
            self._suppressed = 0
            self._window = loop.call_later(self.interval, self._end_window, loop)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's own choice of loop (`loop="auto"`), with accept() failures logged once
    per interval (uvicorn calls this by name in each served process). The message
    matched is asyncio's; uvloop, if it were installed, reports them otherwise."""
    loop = auto_loop_factory(use_subprocess=False)()
    loop.set_exception_handler(AcceptErrorLog())
    return loop
