"""The processes a bench run starts, what /proc says about them, and how they stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

PROC = Path("/proc")


class Children:
    """Every process the bench starts, each in a process group of its own, so that
    stopping one stops what it spawned too (uvicorn's workers, its resource tracker)."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, start_new_session=True, **kwargs)  # noqa: S603
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        group = process.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        deadline = time.monotonic() + 3
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
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


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, so `finally` runs.

    SIGINT too: a shell starts background jobs with it ignored, and Python then
    never raises KeyboardInterrupt on it.
    """

    def _interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- /proc ---------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pids_named(name: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is `name`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(pid)
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def reaped_cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time of these processes' children that have ended and been waited for."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(pid)
            total += (int(fields[13]) + int(fields[14])) / ticks  # cutime, cstime
    return total


def machine_busy_seconds() -> float:
    """CPU time spent by every process on the machine (all cores), and stolen by the
    hypervisor, from /proc/stat. Interrupts are left out: loopback traffic is counted
    there, not in the processes that send it."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
        int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")


def cores() -> int:
    return len(os.sched_getaffinity(0))


# --- servers -------------------------------------------------------------------------

# Our servers are local: never through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    method: str, url: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _DIRECT.open(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The processes running the app: uvicorn's spawned workers, or the server."""
        pid = self.process.pid
        return [c for c in children_of(pid) if "spawn_main" in cmdline(c)] or [pid]

    def all_pids(self) -> list[int]:
        return [self.process.pid, *children_of(self.process.pid)]

    def supervisor_rss_mb(self) -> float | None:
        if self.worker_pids() == [self.process.pid]:
            return None
        return rss_mb(self.process.pid)

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


def wait_idle(pids: Callable[[], list[int]], timeout: float = 30.0) -> None:
    """Until the servers stop working: wrk closes its connections when its time is up,
    but logins it gave up on still run to the end in the hashing pool."""
    deadline = time.monotonic() + timeout
    quiet = 0
    before = cpu_seconds(pids())
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.25)
        now = cpu_seconds(pids())
        quiet = quiet + 1 if now - before <= 0.02 else 0
        before = now
