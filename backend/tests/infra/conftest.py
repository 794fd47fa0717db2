"""Fixtures of the infrastructure tests: brand-new databases for migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from support import (
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
    run_migrations,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"authapi_test_migrations_{os.getpid()}"
    url = create_postgres_database(name)
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own, migrated, for tests whose servers share it."""
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"authapi_test_processes_{os.getpid()}"
    url = create_postgres_database(name)
    try:
        run_migrations(url)
        yield url
    finally:
        drop_postgres_database(name)
