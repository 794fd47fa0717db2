"""Served connections get TCP_NODELAY even from a listener made the way
`uvicorn --workers N` makes it (uvicorn issue #3149)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from authapi.serving import NoDelayH11Protocol


def _tiny_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "ok"}

    return app


def _listener_like_uvicorn_workers() -> socket.socket:
    """As uvicorn's Config.bind_socket does for its worker processes: no IPPROTO_TCP."""
    sock = socket.socket(family=socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def _serving(http: Any) -> Iterator[tuple[uvicorn.Server, int]]:
    sock = _listener_like_uvicorn_workers()
    config = uvicorn.Config(_tiny_app(), http=http, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _server_side_nodelay(http: Any) -> list[int]:
    with _serving(http) as (server, port), socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"200 OK" in conn.recv(4096)
        return [
            protocol.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY
            )
            for protocol in server.server_state.connections
        ]


def test_accepted_connections_have_tcp_nodelay() -> None:
    flags = _server_side_nodelay(NoDelayH11Protocol)
    assert flags
    assert all(flag != 0 for flag in flags)


def test_plain_uvicorn_protocol_lacks_it_on_such_a_listener() -> None:
    """The trap is real in the uvicorn we ship: without our protocol, the option is off.
    If uvicorn fixes #3149 this test fails, and the workaround can go."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    assert _server_side_nodelay(H11Protocol) == [0]
