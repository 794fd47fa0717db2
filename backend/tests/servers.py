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

from authapi.config import Settings
from support import TEST_SECRET


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
def authapi_server(workdir: Path, **settings: str) -> Iterator[str]:
    """`python -m authapi migrate` then `serve`, as `make run` does; yields the base URL."""
    port = free_port()
    env = {
        # The caller's own authapi settings must not leak into the server under test.
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "JWT_SECRET": TEST_SECRET,
        "DATABASE_URL": f"sqlite:///{workdir / 'authapi.db'}",
        "BCRYPT_ROUNDS": "4",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    subprocess.run(
        [sys.executable, "-m", "authapi", "migrate"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "authapi", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base_url}/health").status_code == 200, 20, "authapi")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
