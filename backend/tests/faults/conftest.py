"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from faults.tcp_proxy import TcpProxy
from support import truncate_all_sql


@pytest.fixture
def proxied_postgres(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.close()
        engine = create_engine(postgres_url)
        with engine.begin() as connection:
            # A transaction the app left open would make TRUNCATE wait forever.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(truncate_all_sql()))
        engine.dispose()
