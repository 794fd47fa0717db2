"""Constants and small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from authapi.models import MailStatus, OutboxMessage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# MFA_ENCRYPTION_KEY of the tests: 32 fixed bytes, URL-safe base64 (a Fernet key).
TEST_MFA_KEY = "dGVzdC1tZmEta2V5LTAxMjM0NTY3ODlhYmNkZWZnaGk="
STRONG_PASSWORD = "Correct7Horse!"

# Fast hashing in tests that are not about hashing cost; tests about it set their own.
FAST_ROUNDS = 4


T = TypeVar("T")


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "backend" / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def run_migrations(database_url: str, revision: str = "head", *, down: bool = False) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def postgres_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return (
            f"PostgreSQL at 127.0.0.1:5432 is unreachable ({type(exc).__name__}); "
            "start it with pg_ctlcluster"
        )
    finally:
        engine.dispose()
    return None


def create_postgres_database(name: str) -> str:
    """A fresh, empty database on the local server; returns its URL."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def truncate_all_sql() -> str:
    """One TRUNCATE of every app table, so that a new table is never forgotten."""
    from sqlmodel import SQLModel

    import authapi.models  # noqa: F401  (registers the tables)

    return "TRUNCATE " + ", ".join(table.name for table in SQLModel.metadata.sorted_tables)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def signup(
    client: TestClient, email: str | None = None, password: str = STRONG_PASSWORD, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/auth/signup", json={"email": email or unique_email(), "password": password, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Each call in a thread of its own, released together from a barrier (the way
    racing clients arrive); their results in the order given."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class HeldHasher:
    """The app's password hasher with every thread busy (waiting on a gate) until
    the block ends: each hash a request asks for queues behind them, at a point
    the test chooses, with no sleep and no timing."""

    def __init__(self, app: Any) -> None:
        self._hasher = app.state.container.hasher
        self._gate = threading.Event()

    def __enter__(self) -> HeldHasher:
        pool = self._hasher._pool
        started = threading.Semaphore(0)

        def hold() -> None:
            started.release()
            self._gate.wait()

        self._busy = [pool.submit(hold) for _ in range(pool._max_workers)]
        # Every thread holding: from now on, each queued item is a request's hash.
        for _ in self._busy:
            assert started.acquire(timeout=15), "the hasher's threads never started"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._gate.set()
        for busy in self._busy:
            busy.result(timeout=30)

    def wait_for_queue(self, length: int, seconds: float = 15) -> None:
        """Until `length` hashes wait; a request that never gets there fails this."""
        deadline = time.monotonic() + seconds
        while (queued := self._hasher._pool._work_queue.qsize()) < length:
            assert time.monotonic() < deadline, (
                f"only {queued} of {length} requests reached the hasher"
            )
            time.sleep(0.01)


def wait_outbox_settled(engine: Engine, timeout: float = 15, poll: float = 0.05) -> list[Any]:
    """Every queued message handled (sent or dropped); returns all rows."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            rows = list(session.exec(select(OutboxMessage)).all())
        if all(row.status != MailStatus.QUEUED.value for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(
                f"still queued: {[(r.kind, r.attempts, r.last_error) for r in rows]}"
            )
        time.sleep(poll)


def interleaved_medians(
    first: Callable[[], float], second: Callable[[], float], pairs: int, warmup: int = 5
) -> tuple[float, float]:
    """The median seconds of two paths measured in pairs, alternating which goes
    first (an order effect hits both alike) and interleaved (so does load from
    elsewhere on the machine); the first pairs warm up and are not counted."""

    def pair(n: int) -> tuple[float, float]:
        if n % 2:
            later = second()
            return first(), later
        return first(), second()

    for n in range(warmup):
        pair(n)
    measured = [pair(n) for n in range(pairs)]
    return (
        statistics.median(a for a, _ in measured),
        statistics.median(b for _, b in measured),
    )


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: in a test process that has run the browser
    tests, Playwright's event loop is running in the main thread, where asyncio.run
    refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
