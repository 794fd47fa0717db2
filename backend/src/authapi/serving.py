"""How `python -m authapi serve` runs uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.process
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import h11
import uvicorn
from uvicorn.loops.auto import auto_loop_factory
from uvicorn.protocols.http.h11_impl import H11Protocol

from authapi.config import Settings, get_settings

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


def _protocol_for(settings: Settings) -> type[DeadlineH11Protocol]:
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


# How each process runs uvicorn; the app factory configures logging in the process.
# `serve` and the workers replace "http" by a DeadlineH11Protocol with their settings.
UVICORN_OPTIONS: dict[str, Any] = {
    "app": "authapi.__main__:create_served_app",
    "factory": True,
    "loop": "authapi.serving:new_event_loop",
    "http": DeadlineH11Protocol,
    # The app resolves the client IP itself from TRUSTED_PROXIES; uvicorn would
    # otherwise believe X-Forwarded-For from 127.0.0.1 by default.
    "proxy_headers": False,
    "server_header": False,
    "log_config": None,
    "access_log": True,
}
RESTART_LIMIT = 5  # a worker that keeps dying is a configuration problem, not bad luck
# prometheus-client's multiprocess mode: each process writes its samples there.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(host: str, port: int, workers: int) -> None:
    if workers == 1:
        if os.environ.get(METRICS_DIR_ENV):
            _clear_stale_metrics(Path(os.environ[METRICS_DIR_ENV]))
        uvicorn.run(host=host, port=port, **_options())
        return
    with _metrics_directory():
        _supervise(host, port, workers)


@contextlib.contextmanager
def _metrics_directory() -> Iterator[Path]:
    """Where the workers' metrics meet, so that a scrape answered by any one worker
    counts the requests of all of them.

    The variable must be set before a worker imports prometheus_client: the workers
    are spawned (fresh interpreters) after this sets it. By default a private
    directory per start, removed at exit; an operator's PROMETHEUS_MULTIPROC_DIR is
    used instead, with the files of earlier runs removed first.
    """
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        _clear_stale_metrics(Path(configured))
        yield Path(configured)
        return
    path = Path(tempfile.mkdtemp(prefix="authapi-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(path)
    try:
        yield path
    finally:
        del os.environ[METRICS_DIR_ENV]
        shutil.rmtree(path, ignore_errors=True)


def _clear_stale_metrics(path: Path) -> None:
    """Remove the sample files (`counter_<pid>.db`...) of processes other than this
    one: an earlier run's counts would otherwise be added to this run's."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        if file.stem.rpartition("_")[2] != str(os.getpid()):
            file.unlink(missing_ok=True)


def _worker_gone(pid: int | None) -> None:
    """A dead worker's live gauges (requests in progress) leave the sum; its counters
    stay, so that totals never go down."""
    from prometheus_client.multiprocess import mark_process_dead

    if pid is not None:
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _listener(host: str, port: int) -> socket.socket:
    """A listening socket of this process's own in the port's SO_REUSEPORT group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _options() -> dict[str, Any]:
    """UVICORN_OPTIONS with this process's request deadlines: a spawned worker reads its
    settings afresh (environment, then `.env`), as the app factory does."""
    return {**UVICORN_OPTIONS, "http": _protocol_for(get_settings())}


def _worker(host: str, port: int) -> None:
    uvicorn.Server(uvicorn.Config(**_options())).run(sockets=[_listener(host, port)])


def _supervise(host: str, port: int, workers: int) -> None:
    """Run `workers` processes, each with its own SO_REUSEPORT listener.

    `uvicorn --workers N` shares one listening socket: the first worker to wake takes
    nearly every new connection, so a few keep-alive clients (a reverse proxy's pool,
    a load generator) land on one worker while the others idle. With one socket per
    worker the kernel spreads connections evenly over them.
    """
    _listener(host, port).close()  # fail here, once, if the port is taken
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port), name="authapi-worker")
        process.start()
        return process

    def stop(_signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start() for _ in range(workers)]
    logger.info("started %d workers on %s:%d (SO_REUSEPORT)", workers, host, port)
    restarts = 0
    try:
        while not stopping.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                restarts += 1
                if restarts > RESTART_LIMIT:
                    logger.error("workers keep exiting; giving up")
                    stopping.set()
                    break
                logger.warning(
                    "worker %s exited with %s; restarting", process.pid, process.exitcode
                )
                _worker_gone(process.pid)
                processes[index] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
            _worker_gone(process.pid)
    if restarts > RESTART_LIMIT:
        raise SystemExit(1)
