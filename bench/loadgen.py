"""wrk runs, and what the machine did meanwhile."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from processes import (
    Children,
    cmdline,
    cores,
    cpu_seconds,
    machine_busy_seconds,
    pids_named,
    reaped_cpu_seconds,
)

BENCH_DIR = Path(__file__).resolve().parent
# A queued login waits seconds: wrk's 2 s default would count them as errors.
WRK_TIMEOUT = "30s"


@dataclass
class Load:
    """One wrk run, and the CPU each worker of the server under test used meanwhile."""

    requests: int
    seconds: float
    # wrk's percentiles, corrected for coordinated omission (see report.lua).
    p50_ms: float
    p99_ms: float
    errors: int
    # probe.lua's own timing of each request (one connection only).
    raw_p50_ms: float | None = None
    raw_p99_ms: float | None = None
    raw_max_ms: float | None = None
    worker_cores: list[float] = field(default_factory=list)
    # Cores used by PostgreSQL / Redis meanwhile, and connections they accepted.
    service_cores: dict[str, float] = field(default_factory=dict)
    service_connections: dict[str, int] = field(default_factory=dict)
    # Share of the machine's CPU used by anything else the bench did not start.
    other_load: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def start_wrk(
    children: Children,
    url: str,
    script: str,
    connections: int,
    seconds: float,
    env: dict[str, str],
) -> subprocess.Popen[bytes]:
    return children.start(
        [
            "wrk",
            "-t1",  # one client thread: wrk needs little, and every core it takes is lost
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={WRK_TIMEOUT}",
            "--latency",  # the percentiles themselves come from report.lua's done()
            "-s",
            str(BENCH_DIR / script),
            url,
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish_wrk(children: Children, process: subprocess.Popen[bytes], seconds: float) -> Load:
    try:
        output, _ = process.communicate(timeout=seconds + 60)
    finally:
        children.stop(process)
    text = output.decode(errors="replace")
    match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk gave no summary:\n{text}")
    data = json.loads(match.group(1))

    def ms(key: str) -> float | None:
        return data[key] / 1000 if key in data else None

    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(data[k] for k in ("status_errors", "connect", "read", "write", "timeout")),
        raw_p50_ms=ms("raw_p50_us"),
        raw_p99_ms=ms("raw_p99_us"),
        raw_max_ms=ms("raw_max_us"),
    )


@dataclass
class Usage:
    worker_cores: list[float] = field(default_factory=list)
    service_cores: dict[str, float] = field(default_factory=dict)
    service_connections: dict[str, int] = field(default_factory=dict)
    other_load: float = 0.0

    def apply(self, *loads: Load) -> None:
        for load in loads:
            load.worker_cores = self.worker_cores
            load.service_cores = self.service_cores
            load.service_connections = self.service_connections
            load.other_load = self.other_load


@dataclass(frozen=True)
class Service:
    """A server the app talks to: its CPU is part of the work, not "other load"."""

    name: str
    command: str  # /proc/<pid>/comm of its processes
    marker: str  # in the command line of the processes serving the bench
    # In the command line of the parent that waits for them (PostgreSQL's postmaster):
    # a backend that ends meanwhile leaves its CPU time in that parent's cutime.
    reaper_marker: str | None = None
    # Connections accepted so far (PostgreSQL: pg_stat_database.sessions), or None.
    connections: Callable[[], int | None] | None = None

    def cpu_seconds(self) -> tuple[dict[int, float], float]:
        pids = pids_named(self.command)
        serving = {pid: cpu_seconds([pid]) for pid in pids if self.marker in cmdline(pid)}
        reapers = [pid for pid in pids if self.reaper_marker and self.reaper_marker in cmdline(pid)]
        return serving, reaped_cpu_seconds(reapers)

    def connection_count(self) -> int | None:
        return self.connections() if self.connections else None


class Meter:
    """CPU per worker of the server under test, of the services it talks to, and of
    everything else: the machine's total minus ours (servers, wrk, this process) minus
    those services'."""

    def __init__(self, our_pids: Callable[[], list[int]], services: list[Service]) -> None:
        self._our_pids = our_pids
        self._services = services

    def _ours(self) -> float:
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        return own + cpu_seconds(self._our_pids())

    @contextlib.contextmanager
    def measure(self, workers: list[int]) -> Iterator[Usage]:
        usage = Usage()
        started = time.monotonic()
        busy, ours = machine_busy_seconds(), self._ours()
        per_worker = [cpu_seconds([pid]) for pid in workers]
        services_before = [(s.cpu_seconds(), s.connection_count()) for s in self._services]
        yield usage
        elapsed = time.monotonic() - started
        usage.worker_cores = [
            (cpu_seconds([pid]) - before) / elapsed
            for pid, before in zip(workers, per_worker, strict=True)
        ]
        spent_on_services = 0.0
        for service, ((serving, reaped), connections) in zip(
            self._services, services_before, strict=True
        ):
            serving_now, reaped_now = service.cpu_seconds()
            spent = (
                reaped_now
                - reaped
                + sum(now - serving.get(pid, 0.0) for pid, now in serving_now.items())
            )
            spent_on_services += spent
            usage.service_cores[service.name] = spent / elapsed
            connections_now = service.connection_count()
            if connections is not None and connections_now is not None:
                usage.service_connections[service.name] = connections_now - connections
        other = (machine_busy_seconds() - busy) - (self._ours() - ours) - spent_on_services
        usage.other_load = max(0.0, other / (elapsed * cores()))
