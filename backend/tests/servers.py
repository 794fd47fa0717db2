"""Real processes for tests: authapi under uvicorn, and a private redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import authapi
from authapi.config import Settings
from support import TEST_MFA_KEY, TEST_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not become ready within {timeout} s")


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of our own, so that a test may stop it without harming others."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: redis_reachable(port=port), 10, "redis-server")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def authapi_server(workdir: Path, port: int | None = None, **settings: str) -> Iterator[str]:
    """`python -m authapi migrate` then `serve`, as `make run` does, configured only by
    the environment in `workdir` (so no developer `.env` is read); yields the base URL.

    Two servers may share one `workdir` (and so one SQLite database). The server's
    output goes to a log file that is shown if it fails to start. `port` is for a
    caller that must know the URL before the server starts (mailed links name it).
    """
    with authapi_process(workdir, port, **settings) as (base_url, _process):
        yield base_url


@contextmanager
def authapi_process(
    workdir: Path, port: int | None = None, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """authapi_server, yielding the process too, for tests that signal it themselves."""
    port = port or free_port()
    env = {
        # The caller's own authapi settings must not leak into the server under test.
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "DATABASE_URL": f"sqlite:///{workdir / 'authapi.db'}",
        "BCRYPT_ROUNDS": "4",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # The authapi these tests import, not whichever one the venv would find.
        "PYTHONPATH": os.pathsep.join(
            [str(Path(authapi.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        **settings,
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "authapi", "migrate"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stderr[-4000:]}")
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "authapi", "serve"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{_tail(log_path)}")
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200

    try:
        try:
            # Generous: on a loaded 2-core machine two workers took more than 20 s.
            wait_for(healthy, 60, "authapi")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{_tail(log_path)}") from None
        yield base_url, process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]
