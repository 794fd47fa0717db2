"""The periodic prune inside the service, run once per interval across workers
and instances.

Every process runs a PruneJob thread. Each one looks at the shared schedule (the
`prune` row of `job_leases`) every CHECK_SECONDS at most, and runs the prune only
after winning the row with one conditional UPDATE: the first to find it due takes
a hold (HOLD_SECONDS, extended while it works), prunes, then releases it with the
next due time PRUNE_INTERVAL_SECONDS ahead. The others find it held or not due.

Why a lease row rather than PostgreSQL's pg_try_advisory_lock: an advisory lock
only keeps two runs from overlapping, so N processes would each still prune once
per interval; it also does not exist on SQLite. The row is one schedule for all of
them, survives restarts (a deploy does not restart the clock), and works the same on
both databases. A process that dies mid-run leaves its hold to lapse, and the next
check anywhere carries on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from authapi.db import read_session
from authapi.models.base import utcnow
from authapi.repositories import job_leases
from authapi.services.retention import PruneReport, RetentionService

logger = logging.getLogger(__name__)

JOB_NAME = "prune"
# How often a process looks at the schedule (sooner when the interval is shorter).
CHECK_SECONDS = 60.0
# A hold outlives a batch by far; it is extended as the run goes on.
HOLD_SECONDS = 300


class PruneJob:
    def __init__(
        self,
        engine: Engine,
        service: RetentionService,
        *,
        interval_seconds: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._service = service
        self._interval = timedelta(seconds=interval_seconds)
        self._clock = clock
        self._holder = f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="prune-job", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Finish the batch in hand and stop; the next run carries on from there."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        database_down = False
        wait = min(CHECK_SECONDS, self._interval.total_seconds())
        while not self._stopping.is_set():
            try:
                self.run_if_due()
            except SQLAlchemyError as exc:
                # Once per outage: the health check and the mail sender report it too.
                if not database_down:
                    logger.warning("prune: database unavailable (%s)", type(exc).__name__)
                database_down = True
            except Exception:
                logger.exception("prune: unexpected error")
            else:
                database_down = False
            self._stopping.wait(wait)

    def run_if_due(self) -> PruneReport | None:
        """Prune if the schedule says so and this process wins it; the report, or
        None when the job was not due or another process holds it."""
        now = self._clock()
        # A read first: most checks find the job not due, and take no write lock.
        with read_session(self._engine) as session:
            lease = job_leases.get(session, JOB_NAME)
        if lease is not None and lease.next_run_at > now:
            return None
        with Session(self._engine) as session:
            # A new schedule starts one interval from now: nothing is old on day one,
            # and an operator can run `python -m authapi prune` at once if need be.
            job_leases.ensure(session, JOB_NAME, now + self._interval)
            claimed = job_leases.claim(session, JOB_NAME, self._holder, now, self._hold_until())
            session.commit()
        if not claimed:
            return None
        held_until = self._hold_until()
        lost = False

        def keep_going() -> bool:
            nonlocal held_until, lost
            if self._stopping.is_set():
                return False
            if held_until - self._clock() < timedelta(seconds=HOLD_SECONDS / 2):
                held_until = self._hold_until()
                with Session(self._engine) as session:
                    lost = not job_leases.extend(session, JOB_NAME, self._holder, held_until)
                    session.commit()
            return not lost

        report = self._service.prune(keep_going)
        # Stopped half-way: leave it due, so that the next check anywhere carries on.
        next_run_at = self._clock() + self._interval if report.complete else now
        with Session(self._engine) as session:
            job_leases.release(session, JOB_NAME, self._holder, next_run_at)
            session.commit()
        logger.info("prune: deleted %s", report.summary())
        return report

    def _hold_until(self) -> datetime:
        return self._clock() + timedelta(seconds=HOLD_SECONDS)
