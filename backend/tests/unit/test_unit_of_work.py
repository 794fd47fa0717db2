"""The one owner of transactions, on a real migrated database (SQLite and PostgreSQL):
what a failing request leaves behind, what waits for a commit, and that the rules'
code (services/) never ends a transaction itself."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from authapi.config import Settings
from authapi.container import Container
from authapi.models import User
from authapi.unit_of_work import SideTransactions, UnitOfWork
from support import unique_email

SERVICES = Path(__file__).resolve().parents[2] / "src" / "authapi" / "services"


@pytest.fixture
def container(make_settings: Callable[..., Settings]) -> Iterator[Container]:
    container = Container(make_settings())
    yield container
    container.close()


def stored(engine: Engine, *emails: str) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(select(User.email).where(col(User.email).in_(emails))).all()
    return set(rows)


def add_user(email: str) -> Callable[[Session], None]:
    def write(session: Session) -> None:
        session.add(User(email=email, password_hash="x"))

    return write


def run_in_unit(container: Container, request: Callable[[UnitOfWork], None]) -> None:
    with container.unit_of_work() as uow:
        request(uow)


def test_a_failing_unit_keeps_only_what_it_kept(container: Container) -> None:
    """A refused login's audit row outlives the request's rollback; the request's
    own writes do not."""
    written, kept = unique_email("written"), unique_email("kept")

    def request(uow: UnitOfWork) -> None:
        add_user(written)(uow.session)
        uow.session.flush()
        uow.keep(add_user(kept))
        raise RuntimeError("the request fails")

    with pytest.raises(RuntimeError):
        run_in_unit(container, request)

    assert stored(container.engine, written, kept) == {kept}


def test_a_committed_unit_writes_what_it_kept_too(container: Container) -> None:
    written, kept = unique_email("written"), unique_email("kept")

    with container.unit_of_work() as uow:
        add_user(written)(uow.session)
        uow.keep(add_user(kept))

    assert stored(container.engine, written, kept) == {written, kept}


def test_after_commit_hooks_run_after_a_commit_only(container: Container) -> None:
    """The mail sender is woken for mail that was committed, never for mail that
    was rolled back with its request."""
    seen: list[set[str]] = []
    committed, rolled_back = unique_email("committed"), unique_email("rolled-back")

    with container.unit_of_work() as uow:
        add_user(committed)(uow.session)
        uow.after_commit(lambda: seen.append(stored(container.engine, committed)))

    def failing(uow: UnitOfWork) -> None:
        add_user(rolled_back)(uow.session)
        uow.after_commit(lambda: seen.append({"never"}))
        raise RuntimeError("the request fails")

    with pytest.raises(RuntimeError):
        run_in_unit(container, failing)

    assert seen == [{committed}]  # and the hook saw the row already committed


def test_a_kept_write_that_fails_is_logged_or_raised_as_asked(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit row the database cannot take must not turn a 401 into a 503; a
    revocation that must hold (a stolen refresh token) must not fail silently."""

    def broken(_session: Session) -> None:
        raise OperationalError("INSERT", {}, Exception("the database went away"))

    with caplog.at_level(logging.WARNING, logger="authapi.unit_of_work"):
        unit = UnitOfWork(Session(container.engine), SideTransactions(container.engine))
        unit.keep(broken)
        unit.rollback()
    assert "could not write apart from the request" in caplog.text

    unit = UnitOfWork(Session(container.engine), SideTransactions(container.engine))
    unit.keep(broken, best_effort=False)
    with pytest.raises(OperationalError):
        unit.rollback()


def _transaction_calls(path: Path) -> list[str]:
    """`Session(...)`, `.commit()` and `.rollback()` calls in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "Session":
            found.append(f"{path.name}:{node.lineno} Session(...)")
        if isinstance(func, ast.Attribute) and func.attr in ("commit", "rollback"):
            found.append(f"{path.name}:{node.lineno} .{func.attr}()")
    return found


def test_no_service_builds_a_session_or_ends_a_transaction() -> None:
    """Services say what to write; unit_of_work commits it (the shape of "The house")."""
    modules = sorted(SERVICES.glob("*.py"))
    assert len(modules) > 10
    assert [call for path in modules for call in _transaction_calls(path)] == []
