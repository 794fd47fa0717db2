from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel, String

from authapi.models.base import UTCDateTime


class JobLease(SQLModel, table=True):
    """The schedule of a periodic job shared by every worker and instance.

    One row per job: `next_run_at` says when the job is due, and `held_by` /
    `held_until` say which process is running it. A process runs the job only after
    winning one conditional UPDATE on this row, so it runs once per interval however
    many processes serve, on SQLite and PostgreSQL alike.
    """

    __tablename__ = "job_leases"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    next_run_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    held_by: str | None = Field(default=None, sa_column=Column(String(128)))
    held_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
