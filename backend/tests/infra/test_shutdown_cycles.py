"""Start/SIGTERM cycles of `python -m authapi serve` with two workers: every stop ends,
with every process of the group gone, whatever moment the SIGTERM comes at.

The SIGTERM goes to the whole process group, as Ctrl-C or `kill -- -PGID` sends it,
and the supervisor gets more of them right after, as under `make run` (make passes
its own SIGTERM on to its child): a signal handler that took a lock, which the
supervisor could hold itself at that moment, blocked it forever with both workers
exited and never reaped (once in about 30 stops under make; the burst here makes that
moment nearly certain to be hit within a few cycles).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

import authapi
from authapi.config import Settings
from authapi.serving import GRACEFUL_SECONDS
from servers import free_port
from support import STRONG_PASSWORD, TEST_MFA_KEY, TEST_SECRET, run_migrations

pytestmark = pytest.mark.slow

# The workers have GRACEFUL_SECONDS together to drain, then they are killed: a stop
# must end within that and a few seconds more.
STOP_BOUND = GRACEFUL_SECONDS + 5
# For how long the supervisor gets SIGTERM after SIGTERM, after the group's.
REPEAT_SECONDS = 0.2


@dataclass(frozen=True)
class Cycle:
    delay: float  # seconds after the start, or after the first answer when `ready`
    ready: bool = False
    load: bool = False
    kill_before: bool = False  # SIGKILL a worker just before the SIGTERM
    kill_after: bool = False  # and just after it


CYCLES = [
    # During start-up: the supervisor importing, spawning the workers, the workers
    # importing the app, binding their listeners.
    Cycle(0.3),
    Cycle(1.0),
    Cycle(2.0, kill_after=True),
    Cycle(3.0),
    # Serving (one worker answers at least).
    Cycle(0.2, ready=True, kill_before=True),
    Cycle(0.5, ready=True, load=True),
    Cycle(0.5, ready=True, load=True, kill_after=True),
]


def test_sigterm_always_ends_the_service(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'authapi.db'}"
    run_migrations(database_url)
    env = {
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMIT_AUTH": "100000/minute",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "WORKERS": "2",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(authapi.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    for number, cycle in enumerate(CYCLES):
        took = run_cycle(tmp_path, env, number, cycle)
        print(f"cycle {number} {cycle}: stopped in {took:.2f} s")
        assert took <= STOP_BOUND, f"cycle {number} {cycle}: the stop took {took:.1f} s"


def run_cycle(workdir: Path, env: dict[str, str], number: int, cycle: Cycle) -> float:
    """Start, SIGTERM the process group at the cycle's moment, and wait for the whole
    group to be gone; the seconds the stop took."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"server-{number}.log"
    with log_path.open("wb") as log:
        # A session of its own: the supervisor's pid is the group's id.
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "authapi", "serve"],
            cwd=workdir,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pgid = supervisor.pid
    stop_load = threading.Event()
    clients = [threading.Thread(target=load, args=(base_url, stop_load)) for _ in range(3)]
    try:
        if cycle.ready:
            wait_until_answering(base_url, supervisor)
            if cycle.load:
                for client in clients:
                    client.start()
        time.sleep(cycle.delay)
        if cycle.kill_before:
            kill_a_worker(supervisor.pid)
        started = time.monotonic()
        os.killpg(pgid, signal.SIGTERM)
        repeat_until = time.monotonic() + REPEAT_SECONDS
        while time.monotonic() < repeat_until:
            with gone_ignored():
                os.kill(supervisor.pid, signal.SIGTERM)
        if cycle.kill_after:
            time.sleep(0.05)
            kill_a_worker(supervisor.pid)
        gone = wait_group_gone(supervisor, STOP_BOUND + 5)
        took = time.monotonic() - started
        assert gone, (
            f"cycle {number} {cycle}: processes left {STOP_BOUND + 5} s after SIGTERM:\n"
            f"{group_listing(pgid)}\n{log_path.read_text(errors='replace')[-3000:]}"
        )
        return took
    finally:
        stop_load.set()
        for client in clients:
            if client.is_alive():
                client.join(timeout=10)
        with gone_ignored():
            os.killpg(pgid, signal.SIGKILL)
        supervisor.wait(timeout=10)


def wait_until_answering(base_url: str, supervisor: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # two workers' start-up on a loaded machine
    while time.monotonic() < deadline:
        assert supervisor.poll() is None, "the server exited while starting"
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not answer within 60 s")


def load(base_url: str, stop: threading.Event) -> None:
    """Sign-ups and log-ins until told to stop; whatever the stop does to them."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not stop.is_set():
            credentials = {"email": f"{uuid.uuid4().hex}@example.com", "password": STRONG_PASSWORD}
            try:
                client.post("/auth/signup", json=credentials)
                client.post("/auth/login", json=credentials)
            except httpx.HTTPError:
                time.sleep(0.05)


def kill_a_worker(supervisor_pid: int) -> None:
    """SIGKILL the supervisor's first worker (not its resource tracker), if any."""
    with gone_ignored():
        for child in psutil.Process(supervisor_pid).children():
            with gone_ignored():
                if "resource_tracker" not in " ".join(child.cmdline()):
                    os.kill(child.pid, signal.SIGKILL)
                    return


def wait_group_gone(supervisor: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether no process of the supervisor's group is left within `timeout` seconds.
    Zombies count (killpg finds a process until its parent reaps it): the workers'
    parent is the supervisor, and the supervisor's is this process, which reaps it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.poll()
        try:
            os.killpg(supervisor.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def group_listing(pgid: int) -> str:
    lines = []
    for process in psutil.process_iter(["pid", "ppid", "status", "cmdline"]):
        with gone_ignored():
            if os.getpgid(process.pid) == pgid:
                lines.append(str(process.info))
    return "\n".join(lines)


def gone_ignored() -> contextlib.suppress:
    """For a signal to a process that may have exited meanwhile."""
    return contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess)
