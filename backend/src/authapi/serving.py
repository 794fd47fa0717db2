"""How `python -m authapi serve` runs uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


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
