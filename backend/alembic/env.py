"""Migrations run against SQLModel.metadata with the URL from authapi's Settings.

A caller may pass its own connection (`config.attributes["connection"]`), which the
tests use to migrate a database they created.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import authapi.models  # noqa: F401  (registers the tables on the metadata)
from authapi.config import get_settings
from authapi.db import create_db_engine

target_metadata = SQLModel.metadata

if context.config.config_file_name and not context.config.attributes.get("connection"):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(get_settings())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
