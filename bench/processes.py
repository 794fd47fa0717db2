"""The processes a bench run starts, what they cost (psutil), and how they stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil


def cores() -> int:
    return len(os.sched_getaffinity(0))


class Children:
    """Every process the bench starts, each leading a process group of its own, so
    that stopping it stops what it spawned too (uvicorn's workers)."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, start_new_session=True, **kwargs)  # noqa: S603
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)  # the group id is the leader's pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        # A second Ctrl-C must not cut the clean-up short.
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signals}
        try:
            for process in reversed(list(self._running)):
                self.stop(process, grace=5.0)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def interrupt_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, so `finally` runs (a
    shell starts background jobs with SIGINT ignored: Python would never raise)."""

    def _interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


# --- CPU and memory ------------------------------------------------------------------


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def machine_busy_seconds() -> float:
    """CPU time of every process on the machine and stolen by the hypervisor;
    interrupts are left out (loopback traffic is counted there)."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + getattr(times, "steal", 0.0))


def service_pids(database: str) -> dict[str, list[int]]:
    """The PostgreSQL backends of `database` and Redis: their CPU is part of the
    servers' work, not someone else's load."""
    found: dict[str, list[int]] = {"PostgreSQL": [], "Redis": []}
    for process in psutil.process_iter(["name", "cmdline"]):
        name, cmdline = process.info["name"] or "", " ".join(process.info["cmdline"] or ())
        if name == "postgres" and f" {database} " in cmdline:
            found["PostgreSQL"].append(process.pid)
        elif name == "redis-server":
            found["Redis"].append(process.pid)
    return found


@dataclass
class Usage:
    """Cores used during one measurement: by each worker under test, by the database
    and Redis, and by anything the bench did not start (a share of the machine)."""

    worker_cores: list[float] = field(default_factory=list)
    service_cores: dict[str, float] = field(default_factory=dict)
    other_load: float = 0.0


class Meter:
    def __init__(self, our_pids: Callable[[], list[int]], database: str) -> None:
        self._our_pids = our_pids
        self._database = database  # PostgreSQL's, whose backends count as services

    def _ours(self) -> float:
        times = os.times()  # this process, and the wrk runs it has waited for
        own = times.user + times.system + times.children_user + times.children_system
        return own + cpu_seconds(self._our_pids())

    @contextlib.contextmanager
    def measure(self, workers: list[int]) -> Iterator[Usage]:
        usage = Usage()
        started = time.monotonic()
        busy, ours = machine_busy_seconds(), self._ours()
        per_worker = [cpu_seconds([pid]) for pid in workers]
        services = {
            name: (pids, cpu_seconds(pids)) for name, pids in service_pids(self._database).items()
        }
        yield usage
        elapsed = time.monotonic() - started
        usage.worker_cores = [
            (cpu_seconds([pid]) - before) / elapsed
            for pid, before in zip(workers, per_worker, strict=True)
        ]
        usage.service_cores = {
            name: (cpu_seconds(pids) - before) / elapsed
            for name, (pids, before) in services.items()
        }
        other = (
            machine_busy_seconds()
            - busy
            - (self._ours() - ours)
            - sum(usage.service_cores.values()) * elapsed
        )
        usage.other_load = max(0.0, other / (elapsed * cores()))


def wait_idle(pids: Callable[[], list[int]], timeout: float = 30.0) -> None:
    """Until the servers stop working: wrk closes its connections when its time is
    up, but logins it gave up on still run to the end in the hashing pool."""
    deadline = time.monotonic() + timeout
    quiet = 0
    before = cpu_seconds(pids())
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.25)
        now = cpu_seconds(pids())
        quiet = quiet + 1 if now - before <= 0.02 else 0
        before = now


# --- servers -------------------------------------------------------------------------

# Our servers are local: never through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One call with a JSON body or a form; the status and the JSON answer."""
    data, headers = None, {}
    if body is not None:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _DIRECT.open(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def get_text(url: str) -> str:
    with _DIRECT.open(url, timeout=30) as response:
        return str(response.read().decode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the spawned workers, or the server itself."""
        with contextlib.suppress(psutil.Error):
            spawned = [
                child.pid
                for child in psutil.Process(self.process.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            if spawned:
                return spawned
        return [self.process.pid]

    def all_pids(self) -> list[int]:
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.process.pid).children(recursive=True)
            return [self.process.pid, *(child.pid for child in children)]
        return []

    def log_problems(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]


def start_server(
    children: Children,
    name: str,
    args: Sequence[str],
    env: dict[str, str],
    workdir: Path,
    ready_path: str,
) -> Server:
    """Start on a free port; ready once `ready_path` answers anything but a 5xx."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = children.start(
            args,
            cwd=workdir,
            env={**env, "PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            status, _ = request("GET", server.url + ready_path)
            if status < 500:
                return server
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name} did not start on port {port} (exit {process.poll()}):\n{tail}")
