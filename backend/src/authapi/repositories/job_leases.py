"""The shared schedule of periodic jobs: one row per job (models/job_lease.py).

Every change is one conditional UPDATE. On PostgreSQL the row lock makes a second
claimer re-check the condition after the first commits (and fail); on SQLite the
UPDATE runs under BEGIN IMMEDIATE (see db.py), which serialises claimers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from authapi.models import JobLease


def ensure(session: Session, name: str, first_run_at: datetime) -> None:
    """Create the job's row unless it exists (concurrent first starts included)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(JobLease)
        .values(name=name, next_run_at=first_run_at)
        .on_conflict_do_nothing(index_elements=["name"])
    )


def claim(session: Session, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take the job if it is due and nobody holds it (or their hold has lapsed)."""
    result = session.execute(
        update(JobLease)
        .where(
            col(JobLease.name) == name,
            col(JobLease.next_run_at) <= now,
            or_(col(JobLease.held_until).is_(None), col(JobLease.held_until) < now),
        )
        .values(held_by=holder, held_until=until)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def extend(session: Session, name: str, holder: str, until: datetime) -> bool:
    """Keep holding a long run; False if the hold was lost (it lapsed and was taken)."""
    result = session.execute(
        update(JobLease)
        .where(col(JobLease.name) == name, col(JobLease.held_by) == holder)
        .values(held_until=until)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def release(session: Session, name: str, holder: str, next_run_at: datetime) -> None:
    session.execute(
        update(JobLease)
        .where(col(JobLease.name) == name, col(JobLease.held_by) == holder)
        .values(held_by=None, held_until=None, next_run_at=next_run_at)
    )


def get(session: Session, name: str) -> JobLease | None:
    return session.exec(select(JobLease).where(JobLease.name == name)).first()
