"""How `python -m authapi serve` runs uvicorn: one process, or a supervisor and its
workers, each with a listener of its own (how each connection is served:
connections.py)."""

from __future__ import annotations

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
