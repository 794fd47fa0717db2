"""Served connections get TCP_NODELAY even from a listener made the way
`uvicorn --workers N` makes it (uvicorn issue #3149)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from authapi.connections import NoDelayH11Protocol
from servers import authapi_server, wait_for


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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` (iproute2) to see sockets")
def test_two_workers_each_accept_their_share_of_connections(tmp_path: Path) -> None:
    """WORKERS=2 gives each worker its own SO_REUSEPORT listener, so keep-alive
    connections spread over both (with one shared socket, one worker took nearly all)."""
    with authapi_server(tmp_path, WORKERS="2") as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        # /health answered from the first worker up; wait for the second's listener.
        wait_for(lambda: len(_sockets(port, "listening")) == 2, 20, "both workers")
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
        try:
            for conn in connections:
                conn.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                assert b"200 OK" in conn.recv(4096)
            listing = "\n".join(_sockets(port, "established"))
        finally:
            for conn in connections:
                conn.close()
    owners = Counter(re.findall(r"pid=(\d+)", listing))
    assert len(owners) == 2, listing
    assert min(owners.values()) >= 4, owners


def _sockets(port: int, state: str) -> list[str]:
    """`ss` lines of the server side's sockets on `port` in `state`, with owners."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", state, f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return listing.splitlines()
