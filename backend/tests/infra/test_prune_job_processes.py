"""The periodic prune with real processes: two instances of two workers each on one
PostgreSQL database run a due prune exactly once (one `prune:` log line in all)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from authapi.jobs import JOB_NAME
from authapi.models.base import utcnow
from servers import authapi_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

OLD_EVENTS = 2500  # three batches of PRUNE_BATCH_SIZE=1000


@pytest.fixture
def engine(migrated_postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_two_instances_of_two_workers_prune_once(
    tmp_path: Path, migrated_postgres_url: str, engine: Engine
) -> None:
    year_ago = utcnow() - timedelta(days=400)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO auth_events (id, event_type, created_at) "
                "SELECT gen_random_uuid(), 'rate_limited', :when "
                "FROM generate_series(1, :n)"
            ),
            {"when": year_ago, "n": OLD_EVENTS},
        )
        connection.execute(
            text(
                "INSERT INTO auth_events (id, event_type, created_at) VALUES (:id, 'signup', :now)"
            ),
            {"id": "00000000-0000-4000-8000-000000000001", "now": utcnow()},
        )
        connection.execute(
            text("INSERT INTO job_leases (name, next_run_at) VALUES (:name, :due)"),
            {"name": JOB_NAME, "due": utcnow() - timedelta(hours=1)},
        )
    settings = {
        "DATABASE_URL": migrated_postgres_url,
        "WORKERS": "2",
        "LOG_LEVEL": "INFO",
        "PRUNE_INTERVAL_SECONDS": "3600",
        "PRUNE_BATCH_SIZE": "1000",
    }
    workdirs = [tmp_path / "a", tmp_path / "b"]
    with ExitStack() as servers:
        for workdir in workdirs:
            workdir.mkdir()
            servers.enter_context(authapi_server(workdir, **settings))
        wait_for(
            lambda: count(engine, "SELECT count(*) FROM job_leases WHERE held_by IS NULL "
                          "AND next_run_at > now()") == 1,
            60,
            "the prune",
        )  # fmt: skip

    runs = [
        line
        for workdir in workdirs
        for path in workdir.glob("server-*.log")
        for line in path.read_text(errors="replace").splitlines()
        if "prune: deleted" in line
    ]
    assert len(runs) == 1, runs
    assert f"auth_events={OLD_EVENTS} " in runs[0]
    assert count(engine, "SELECT count(*) FROM auth_events") == 1
