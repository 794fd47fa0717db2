"""The admin search's query plans, on SQLite and PostgreSQL: a prefix of the email or
of the name is an index range scan, never a scan of every user (at 1,000,000 users,
the difference between milliseconds and seconds; `make bench` measures it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from authapi.repositories.users import search_query


def plan(
    client: TestClient, prefix: str | None, priced_out: tuple[str, ...] = (), **keys: object
) -> str:
    """The database's own plan for the search's statement, as one text."""
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    statement = search_query(prefix, 51, **keys)  # type: ignore[arg-type]
    dialect = postgresql.dialect() if engine.dialect.name == "postgresql" else sqlite.dialect()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # A test table is small enough that a scan would win; with scans priced
            # out, the plan shows whether an index can serve the query at all.
            for step in ("seqscan", *priced_out):
                connection.execute(text(f"SET enable_{step} = off"))
            rows = connection.execute(text(f"EXPLAIN {sql}")).scalars()
        else:
            rows = (row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        return "\n".join(str(row) for row in rows)


def test_a_prefix_search_is_a_range_scan_of_the_email_and_name_indexes(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    engine_name = client.app.state.container.engine.dialect.name  # type: ignore[attr-defined]

    shown = plan(client, "ada")
    paged = plan(client, "ada", after_email="ada@example.com")

    email_index = "ix_users_email_bytewise" if engine_name == "postgresql" else "ix_users_email"
    for text_plan in (shown, paged):
        assert email_index in text_plan, text_plan
        assert "ix_users_name_prefix" in text_plan, text_plan
        assert "Seq Scan" not in text_plan, text_plan
        assert "SCAN users" not in text_plan, text_plan


def test_the_newest_first_listing_pages_along_an_index(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()

    # A sort priced out too: the plan shows whether the index gives the order itself.
    first = plan(client, None, ("sort", "bitmapscan"))
    later = plan(client, None, ("sort", "bitmapscan"), before=(datetime.now(UTC), uuid.uuid4()))

    for text_plan in (first, later):
        assert "ix_users_created_at_id" in text_plan, text_plan
        assert "Sort" not in text_plan, text_plan
        assert "TEMP B-TREE" not in text_plan, text_plan
