"""The one owner of transactions. Services say what to write; a unit of work commits
it, rolls it back, runs what waits for the commit, and writes apart what must
outlive a failure (the audit row of a refusal, the revocation of a stolen session).

A request gets one unit (`request_unit`, the session dependency); a shell command
gets one (`Container.unit_of_work`); the read pool's token check, which has none,
writes its refusals through `SideTransactions` directly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

logger = logging.getLogger(__name__)

T = TypeVar("T")
Write = Callable[[Session], Any]


class SideTransactions:
    """Transactions of their own, beside any request's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def run(self, write: Callable[[Session], T]) -> T:
        """`write(session)`, committed now."""
        with Session(self._engine, expire_on_commit=False) as session:
            result = write(session)
            session.commit()
        return result

    def try_run(self, write: Write) -> None:
        """`run`, but a database error is logged, not raised: an unreachable database
        must not turn a refusal (401, 429) into a 503 for want of its audit row."""
        try:
            self.run(write)
        except SQLAlchemyError:
            logger.warning("could not write apart from the request", exc_info=True)


class UnitOfWork:
    """One transaction and what depends on its outcome."""

    def __init__(self, session: Session, side: SideTransactions) -> None:
        self.session = session
        self._side = side
        self._after_commit: list[Callable[[], None]] = []
        self._kept: list[tuple[Write, bool]] = []

    def end_reads(self) -> None:
        """End the transaction of a unit that has only read, before a slow step: a
        bcrypt hash takes 200 ms and may wait seconds for its turn at the hasher. Held
        meanwhile, the connection (on PostgreSQL an open transaction) was lost to every
        other request: a storm of 32 logins took all 20 of the pool's, and /metrics
        waited 1.4 s for one. What the session loaded stays usable (expire_on_commit is
        off); its next statement begins a new transaction, the unit's one write."""
        session = self.session
        if session.new or session.dirty or session.deleted or session.info.get("flushed"):
            raise RuntimeError("end_reads on a unit that wrote: it would commit the writes")
        if session.expire_on_commit:
            raise RuntimeError("end_reads needs expire_on_commit off, or reading reopens one")
        session.commit()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """`hook()` once the unit's writes are committed (never if they are not)."""
        self._after_commit.append(hook)

    def keep(self, write: Write, *, best_effort: bool = True) -> None:
        """`write(session)` in a transaction of its own once this unit has ended,
        committed or rolled back: what a failing request must leave behind. Written
        after the unit's end, so that it never waits for the unit's own write lock
        (SQLite). `best_effort`: a database error is logged, not raised."""
        self._kept.append((write, best_effort))

    def write_now(self, write: Callable[[Session], T]) -> T:
        """`write(session)` in a transaction of its own, committed before the unit goes
        on, for what must hold whatever the unit does next: a social sign-in's flow is
        spent before the provider is asked. Call it after `end_reads` (SQLite)."""
        return self._side.run(write)

    def commit(self) -> None:
        try:
            self.session.commit()
        finally:
            self.session.close()
        self._write_kept()
        for hook in self._after_commit:
            hook()

    def rollback(self) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
        self._write_kept()

    def _write_kept(self) -> None:
        kept, self._kept = self._kept, []
        for write, best_effort in kept:
            if best_effort:
                self._side.try_run(write)
            else:
                self._side.run(write)


@contextmanager
def read_unit(connection: Connection, side: SideTransactions) -> Iterator[UnitOfWork]:
    """A unit on one of the read pool's autocommit connections (db.ReadPool), for an
    endpoint that only reads: no BEGIN, no commit, no pool checkout, and no hop to
    the request thread pool. A write through it would commit at once, statement by
    statement: never give one to a service that writes."""
    with Session(bind=connection, expire_on_commit=False) as session:
        yield UnitOfWork(session, side)


def new_unit(engine: Engine, side: SideTransactions) -> UnitOfWork:
    return UnitOfWork(Session(engine, expire_on_commit=False), side)


@contextmanager
def unit_of_work(engine: Engine, side: SideTransactions) -> Iterator[UnitOfWork]:
    """A unit for a caller without a request (the shell, the tests of a service):
    committed when the block ends, rolled back when it raises."""
    unit = new_unit(engine, side)
    try:
        yield unit
    except BaseException:
        unit.rollback()
        raise
    unit.commit()


@asynccontextmanager
async def request_unit(engine: Engine, side: SideTransactions) -> AsyncIterator[UnitOfWork]:
    """The request's unit: commit when the request succeeds, roll back otherwise.

    Async on purpose: FastAPI runs every sync dependency in a worker thread, and each
    hop costs more than the query of a typical request. Creating a Session does no
    I/O, so it happens on the event loop; only the end (commit or rollback, the kept
    writes, the close) goes to the thread pool, in one hop.
    """
    unit = new_unit(engine, side)
    try:
        yield unit
    except BaseException:
        await anyio.to_thread.run_sync(unit.rollback)
        raise
    await anyio.to_thread.run_sync(unit.commit)


@event.listens_for(Session, "after_flush")
def _remember_flush(session: Session, _context: Any) -> None:
    """For end_reads: a flushed write leaves session.new and dirty empty."""
    session.info["flushed"] = True
