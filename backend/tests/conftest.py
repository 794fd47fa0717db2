"""Fixtures: real databases (a SQLite file and the local PostgreSQL), the real app.

Every API test runs once per database. SQLite tests get a copy of a migrated file;
PostgreSQL tests share one migrated database whose tables are emptied after each test.
PostgreSQL tests skip, loudly, only when the server cannot be reached.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from authapi.config import Settings
from authapi.main import create_app
from smtp_sink import Mailbox
from support import (
    FAST_ROUNDS,
    TEST_MFA_KEY,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
    run_migrations,
    truncate_all_sql,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "authapi.db"
    run_migrations(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    # Per process, so that two test runs on one machine never share a database.
    name = f"authapi_test_api_{os.getpid()}"
    url = create_postgres_database(name)
    run_migrations(url)
    yield url
    drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "authapi.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as connection:
        # A transaction the app left open would make TRUNCATE wait forever: fail instead.
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(text(truncate_all_sql()))
    engine.dispose()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "jwt_secret": TEST_SECRET,
            "mfa_encryption_key": TEST_MFA_KEY,
            "bcrypt_rounds": FAST_ROUNDS,
            "rate_limit_auth": "5/minute",
            "rate_limit_storage_uri": "memory://",
            "login_failure_limit": 10,
            "trusted_proxies": [],
            "cors_origins": [],
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Build a client on a fresh app; several per test are fine."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app: FastAPI = create_app(make_settings(**overrides))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app as deployed, limits included (5/minute per IP on the auth endpoints)."""
    return make_client()


@pytest.fixture
def roomy_client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with a per-IP limit high enough for tests that make many calls."""
    return make_client(rate_limit_auth="1000/minute")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free loopback port (aiosmtpd)."""
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def mail_client(mailbox: Mailbox, make_client: Callable[..., TestClient]) -> TestClient:
    """The app delivering its mail over SMTP to `mailbox`, with roomy per-IP limits.
    (`mailbox` first: it is set up first and torn down last, after the app's sender.)"""
    return make_client(
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
        mail_address_limit="1000/hour",
    )
