"""How `python -m authapi serve` runs uvicorn: one process, or a supervisor and its
workers, each with a listener of its own (how each connection is served:
connections.py)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from authapi.config import get_settings
from authapi.connections import DeadlineH11Protocol, protocol_for

logger = logging.getLogger(__name__)


# How each process runs uvicorn; the app factory configures logging in the process.
# `serve` and the workers replace "http" by a DeadlineH11Protocol with their settings.
UVICORN_OPTIONS: dict[str, Any] = {
    "app": "authapi.__main__:create_served_app",
    "factory": True,
    "loop": "authapi.connections:new_event_loop",
    "http": DeadlineH11Protocol,
    # The app resolves the client IP itself from TRUSTED_PROXIES; uvicorn would
    # otherwise believe X-Forwarded-For from 127.0.0.1 by default.
    "proxy_headers": False,
    "server_header": False,
    "log_config": None,
    "access_log": True,
}
RESTART_LIMIT = 5  # a worker that keeps dying is a configuration problem, not bad luck
# How long the workers have, together, to finish their requests after SIGTERM.
GRACEFUL_SECONDS = 30
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
    return {**UVICORN_OPTIONS, "http": protocol_for(get_settings())}


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
    # Set by the signal handler, which takes no lock. It was a threading.Event, whose
    # set() takes the Event's lock: a Python signal handler runs in the main thread
    # between two bytecodes of whatever the loop is doing, and that may be inside
    # Event.wait() holding that very lock, or inside the handler's own set() when a
    # second signal comes (`make run` forwards the group's SIGTERM to its child, so
    # `kill -- -PGID` or Ctrl-C's SIGTERM arrives twice, microseconds apart). The
    # handler then blocked forever on a lock its own thread held: the supervisor
    # never reaped its exited workers (2 stops in 41 under `make run`).
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port), name="authapi-worker")
        process.start()
        return process

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes: list[multiprocessing.process.BaseProcess] = []
    restarts = 0
    try:
        # Inside the try: a stop (or a failed start) while starting still stops and
        # reaps the workers already started, and starts no more of them.
        while len(processes) < workers and not stopping:
            processes.append(start())
        logger.info("started %d workers on %s:%d (SO_REUSEPORT)", len(processes), host, port)
        while not stopping:
            # Wakes at once when a worker exits; a signal interrupts the wait and the
            # wait resumes (PEP 475), so the flag is seen within the 0.5 s.
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
            for index, process in enumerate(processes):
                # A worker that exits because the stop's SIGTERM reached it too (a
                # process group's) is not a crash: restart nothing once stopping.
                if stopping or process.is_alive():
                    continue
                restarts += 1
                if restarts > RESTART_LIMIT:
                    logger.error("workers keep exiting; giving up")
                    stopping = True
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
        # One deadline for all the workers (not GRACEFUL_SECONDS each, one after the
        # other), then SIGKILL for any still draining.
        deadline = time.monotonic() + GRACEFUL_SECONDS
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                logger.warning("worker %s still running; killing it", process.pid)
                process.kill()
        for process in processes:
            process.join(timeout=10)
            _worker_gone(process.pid)
    if restarts > RESTART_LIMIT:
        raise SystemExit(1)
