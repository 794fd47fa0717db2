"""Retention: delete what nothing needs any more, in short batches.

What goes, and when:
- sessions expired or revoked more than SESSION_GRACE ago, with their refresh tokens
  (their tokens died with them; the grace keeps "logged out on ..." visible a while);
- known devices not signed in from for 90 days (services/devices.py);
- links used or expired (no request can use them again), and social sign-in flows,
  passkey ceremonies and org invitations past their end likewise;
- mail sent or dropped more than FINISHED_MAIL_GRACE ago (its body is already
  erased; a day lets support confirm a delivery), and mail that failed for good more
  than FAILED_MAIL_GRACE ago (kept long enough for an operator to read `last_error`);
- audit rows older than AUDIT_RETENTION_DAYS.

Each batch is its own short transaction (`SideTransactions.run`), so a million due
rows never become one long lock. A run that stops
half-way (shutdown) has lost nothing: the next run carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from authapi.models.base import utcnow
from authapi.repositories import retention
from authapi.services.devices import REMEMBERED_FOR
from authapi.unit_of_work import SideTransactions

SESSION_GRACE = timedelta(days=7)
FINISHED_MAIL_GRACE = timedelta(days=1)
FAILED_MAIL_GRACE = timedelta(days=30)

# One batch: a session in, rows deleted out.
Batch = Callable[[Session], int]


@dataclass(slots=True)
class PruneReport:
    """Rows deleted per table, in the order they are pruned."""

    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = True  # False when asked to stop before the end

    def summary(self) -> str:
        counts = " ".join(f"{table}={count}" for table, count in self.deleted.items())
        return f"{counts} in {self.seconds:.2f} s" + ("" if self.complete else " (stopped)")


class RetentionService:
    def __init__(
        self,
        batches: SideTransactions,
        *,
        audit_retention: timedelta,
        batch_size: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._batches = batches
        self._audit_retention = audit_retention
        self._batch_size = batch_size
        self._clock = clock

    def prune(self, keep_going: Callable[[], bool] = lambda: True) -> PruneReport:
        """Delete every due row; `keep_going` is asked after each batch (a periodic
        job stops at shutdown, or when it lost its lease)."""
        started = time.monotonic()
        now = self._clock()
        limit = self._batch_size
        sessions_cutoff = now - SESSION_GRACE
        steps: list[tuple[str, Batch]] = [
            (
                "refresh_tokens",
                lambda s: retention.delete_refresh_tokens_of_ended_sessions(
                    s, sessions_cutoff, limit
                ),
            ),
            ("sessions", lambda s: retention.delete_ended_sessions(s, sessions_cutoff, limit)),
            ("links", lambda s: retention.delete_spent_links(s, now, limit)),
            ("org_invitations", lambda s: retention.delete_ended_invitations(s, now, limit)),
            (
                "known_devices",
                lambda s: retention.delete_forgotten_devices(s, now - REMEMBERED_FOR, limit),
            ),
            ("oauth_flows", lambda s: retention.delete_spent_oauth_flows(s, now, limit)),
            (
                "webauthn_ceremonies",
                lambda s: retention.delete_spent_ceremonies(s, now, limit),
            ),
            (
                "mail_outbox",
                lambda s: retention.delete_finished_mail(
                    s, now - FINISHED_MAIL_GRACE, now - FAILED_MAIL_GRACE, limit
                ),
            ),
            (
                "auth_events",
                lambda s: retention.delete_old_auth_events(s, now - self._audit_retention, limit),
            ),
        ]
        report = PruneReport()
        for table, batch in steps:
            report.deleted[table] = 0
            while report.complete:
                deleted = self._batches.run(batch)
                report.deleted[table] += deleted
                report.complete = keep_going()
                if deleted < limit:
                    break
            if not report.complete:
                break
        report.seconds = time.monotonic() - started
        return report
