"""The admin search's query plans, on SQLite and PostgreSQL: a prefix of the email or
of the name is an index range scan, never a scan of every user (at 1,000,000 users,
the difference between milliseconds and seconds; `make bench` measures it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from authapi.repositories.users import newest_statement, search_statements


def plan(client: TestClient, statement: Any, priced_out: tuple[str, ...] = ()) -> str:
    """The database's own plan for a statement, as one text. PostgreSQL's with scans
    and sorts priced out: on a test table a scan would win, and the plan then shows
    whether an index can serve the statement, in its order, at all."""
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    dialect = postgresql.dialect() if engine.dialect.name == "postgresql" else sqlite.dialect()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            for step in ("seqscan", "sort", "bitmapscan", *priced_out):
                connection.execute(text(f"SET enable_{step} = off"))
            rows = connection.execute(text(f"EXPLAIN {sql}")).scalars()
        else:
            rows = (row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        return "\n".join(str(row) for row in rows)


def test_each_stream_of_a_prefix_search_reads_its_index_in_order(
    make_client: Callable[..., TestClient],
) -> None:
    """A prefix that matches a hundred thousand users must read a page of them, not
    all of them and then sort: each stream is its index's range, in its order."""
    client = make_client()
    engine_name = client.app.state.container.engine.dialect.name  # type: ignore[attr-defined]
    email_index = "ix_users_email_bytewise" if engine_name == "postgresql" else "ix_users_email"

    for after in (None, ("ada@example.com", uuid.uuid4())):
        by_email, by_name = (plan(client, s) for s in search_statements("ada", 50, after))
        assert email_index in by_email, by_email
        assert "ix_users_name_prefix" in by_name, by_name
        for text_plan in (by_email, by_name):
            assert "Seq Scan" not in text_plan, text_plan
            assert "SCAN users" not in text_plan, text_plan
            assert "Sort" not in text_plan, text_plan
            assert "TEMP B-TREE" not in text_plan, text_plan


def test_the_newest_first_listing_pages_along_an_index(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()

    for before in (None, (datetime.now(UTC), uuid.uuid4())):
        text_plan = plan(client, newest_statement(50, before))
        assert "ix_users_created_at_id" in text_plan, text_plan
        assert "Sort" not in text_plan, text_plan
        assert "TEMP B-TREE" not in text_plan, text_plan
