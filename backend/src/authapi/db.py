"""Engine and the per-request session: one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from authapi.config import Settings

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A savepoint opens the transaction too (signup inserts inside one).
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")


def create_db_engine(settings: Settings) -> Engine:
    """The general pool. A restarted PostgreSQL costs one failed request, not many:
    connections are pinged when taken."""
    engine = _create_engine(settings, settings.db_pool_size, ping=True)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def create_read_engine(settings: Settings, pool_size: int) -> Engine:
    """A small pool of autocommit connections for the token check of every protected
    request.

    Its connections need no BEGIN, no rollback when returned and no ping when taken:
    that per-checkout work of the general pool cost more than the query itself
    (175 us against 40 us per check on SQLite). A connection the database dropped
    is retried once instead of pinged every time (see `read_with_retry`).
    """
    engine = _create_engine(
        settings, pool_size, isolation_level="AUTOCOMMIT", pool_reset_on_return=None
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_engine(
    settings: Settings, pool_size: int, *, ping: bool = False, **options: Any
) -> Engine:
    """`hide_parameters`: a database error's message would otherwise carry the
    statement's values (a new password hash, an email) into the log. `ping` checks a
    server connection before use; a SQLite file does not restart."""
    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        connect_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
    else:
        connect_args = {"connect_timeout": 5} if backend == "postgresql" else {}
        options.update(pool_pre_ping=ping, pool_timeout=10)
    return create_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
        **options,
    )


def read_with_retry(engine: Engine, read: Callable[[Connection], T]) -> T:
    """Run `read` on a connection of `engine`, once more on a fresh connection if the
    database had dropped the first (a restart): the pool then holds only stale ones,
    so they all go."""
    try:
        with engine.connect() as connection:
            return read(connection)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    engine.dispose()
    with engine.connect() as connection:
        return read(connection)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and write transactions that wait their turn.

    pysqlite's default `BEGIN` (deferred) takes a read snapshot first; when a request
    reads, spends 250 ms in bcrypt, then writes while another connection has written,
    SQLite fails at once with "database is locked" and no busy wait. So reads run in
    autocommit and the first write of a request opens `BEGIN IMMEDIATE`, which waits
    up to the busy timeout for the lock. All of a request's writes stay one transaction.
    """

    event.listen(engine, "connect", _sqlite_pragmas)

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_first_write(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if not dbapi_connection.in_transaction and statement.lstrip()[:9].upper().startswith(
            _WRITE_VERBS
        ):
            cursor.execute("BEGIN IMMEDIATE")


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads only, in autocommit: no BEGIN and no ROLLBACK round trips
    around its one query (on PostgreSQL that halved the statements per /auth/me)."""
    with Session(engine.execution_options(isolation_level="AUTOCOMMIT")) as session:
        yield session


@asynccontextmanager
async def request_session(engine: Engine) -> AsyncIterator[Session]:
    """The request's session: commit when the request succeeds, roll back otherwise.

    Async on purpose: FastAPI runs every sync dependency in a worker thread, and each
    hop costs more than the query of a typical request. Creating a Session does no
    I/O, so it happens on the event loop; only the commit or rollback (which talk
    to the database) go to the thread pool, in one hop together with the close.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(rollback_and_close, session)
        raise
    await anyio.to_thread.run_sync(commit_and_close, session)


def commit_and_close(session: Session) -> None:
    """Commit, then run what waited for the commit (waking the mail sender)."""
    try:
        session.commit()
        hooks = session.info.pop("after_commit", [])
    finally:
        session.close()
    for hook in hooks:
        hook()


def rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()
