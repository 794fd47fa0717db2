"""The in-service prune of a large audit table on PostgreSQL while a real authapi keeps
answering `/auth/me` and logins: the old rows go, and every request succeeds.

It measures too (printed; run with `-s` to see): the prune's duration, from its
`prune:` log line, and `/auth/me` latency before and during the prune. Nothing is
asserted about time. 200,000 rows by default: forty batches, enough for the prune to
run long beside the traffic, in about 12 s; PRUNE_LOAD_ROWS=1000000 measures the
million rows of the original issue (about a minute on two cores).
"""

from __future__ import annotations

import os
import re
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from authapi.jobs import JOB_NAME
from authapi.models.base import utcnow
from servers import authapi_server, wait_for
from support import STRONG_PASSWORD, bearer, unique_email

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS = int(os.environ.get("PRUNE_LOAD_ROWS", "200000"))
RECENT_ROWS = 10_000
ME_CLIENTS = 3
BASELINE_REQUESTS = 1000  # /auth/me calls measured before the prune starts


@dataclass
class Traffic:
    """Clients calling the service until told to stop; every answer is recorded."""

    base_url: str
    token: str
    email: str
    phase: str = "before"
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"before": [], "during": []})
    statuses: dict[str, list[int]] = field(default_factory=lambda: {"before": [], "during": []})
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency: float | None, status: int) -> None:
        with self.lock:
            if latency is not None:
                self.latencies[self.phase].append(latency)
            self.statuses[self.phase].append(status)

    def call_me(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stopping.is_set():
                started = time.perf_counter()
                status = client.get("/auth/me", headers=bearer(self.token)).status_code
                self.record(time.perf_counter() - started, status)

    def log_in(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stopping.is_set():
                body = {"email": self.email, "password": STRONG_PASSWORD}
                self.record(None, client.post("/auth/login", json=body).status_code)


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] * 1000


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


@pytest.fixture
def engine(migrated_postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def seed(engine: Engine) -> None:
    """ROWS audit rows past AUDIT_RETENTION_DAYS, one INSERT ... SELECT each, as a flood
    of 429s a year ago would have left them, and RECENT_ROWS that must stay."""
    now = utcnow()
    insert = text(
        "INSERT INTO auth_events (id, event_type, ip_address, user_agent, created_at) "
        "SELECT gen_random_uuid(), 'rate_limited', '203.0.113.7', 'flood/1.0', "
        ":newest - make_interval(secs => i) FROM generate_series(1, :n) AS i"
    )
    with engine.begin() as connection:
        connection.execute(insert, {"newest": now - timedelta(days=400), "n": ROWS})
        connection.execute(insert, {"newest": now, "n": RECENT_ROWS})
        # Not due until the test says so: the baseline is measured first.
        connection.execute(
            text("INSERT INTO job_leases (name, next_run_at) VALUES (:name, :later)"),
            {"name": JOB_NAME, "later": now + timedelta(days=1)},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE auth_events"))


def test_prune_a_large_audit_table_while_serving(
    tmp_path: Path, migrated_postgres_url: str, engine: Engine
) -> None:
    seed(engine)
    settings = {
        "DATABASE_URL": migrated_postgres_url,
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_AUTH": "100000/minute",
        # The job looks at its schedule every 2 s; the test makes it due once.
        "PRUNE_INTERVAL_SECONDS": "2",
    }
    with authapi_server(tmp_path, **settings) as base_url:
        email = unique_email("load")
        signed_up = httpx.post(
            f"{base_url}/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        )
        assert signed_up.status_code == 201, signed_up.text
        traffic = Traffic(base_url, signed_up.json()["access_token"], email)
        clients = [threading.Thread(target=traffic.call_me) for _ in range(ME_CLIENTS)]
        clients.append(threading.Thread(target=traffic.log_in))
        for client in clients:
            client.start()
        try:
            wait_for(lambda: len(traffic.latencies["before"]) >= BASELINE_REQUESTS, 120, "load")
            with traffic.lock:
                traffic.phase = "during"
            with engine.begin() as connection:
                connection.execute(text("UPDATE job_leases SET next_run_at = now()"))
            wait_for(lambda: prune_report(tmp_path) is not None, 600, "the prune")
        finally:
            traffic.stopping.set()
            for client in clients:
                client.join(60)

    report = prune_report(tmp_path)
    assert report is not None
    assert f"auth_events={ROWS} " in report.line
    assert count(engine, "SELECT count(*) FROM auth_events WHERE event_type = 'rate_limited'") == (
        RECENT_ROWS
    )
    for phase in ("before", "during"):
        statuses = traffic.statuses[phase]
        assert statuses, phase
        assert set(statuses) == {200}, (phase, sorted(set(statuses)))
    print(summary(traffic, report.seconds), flush=True)


@dataclass(frozen=True)
class PruneLine:
    line: str
    seconds: float


def prune_report(workdir: Path) -> PruneLine | None:
    """The first run's `prune:` line; later runs (every 2 s) find nothing to delete."""
    for path in workdir.glob("server-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            found = re.search(r"prune: deleted .*auth_events=(\d+) in ([\d.]+) s", line)
            if found and int(found.group(1)) > 0:
                return PruneLine(line, float(found.group(2)))
    return None


def summary(traffic: Traffic, prune_seconds: float) -> str:
    lines = [f"prune of {ROWS:,} audit rows: {prune_seconds:.1f} s"]
    for phase in ("before", "during"):
        values = traffic.latencies[phase]
        logins = len(traffic.statuses[phase]) - len(values)
        lines.append(
            f"/auth/me {phase} the prune: {len(values)} requests, "
            f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
            f"max {max(values) * 1000:.1f} ms; {logins} logins"
        )
    return "\n".join(lines)
