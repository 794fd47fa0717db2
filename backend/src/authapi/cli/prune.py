"""`python -m authapi prune`: the retention the service runs every
PRUNE_INTERVAL_SECONDS, at once (e.g. from cron with PRUNE_INTERVAL_SECONDS=0).

It does not wait for the service's schedule: running it beside the periodic job is
safe (each batch deletes what is still there), only redundant. Prints the rows
deleted per table; a database error prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from authapi.config import Settings
from authapi.container import Container
from authapi.services.retention import (
    FAILED_MAIL_GRACE,
    FINISHED_MAIL_GRACE,
    SESSION_GRACE,
    PruneReport,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "prune",
        help="delete old sessions, links, mail and audit rows (AUDIT_RETENTION_DAYS)",
        description=(
            f"Deletes sessions expired or revoked more than {SESSION_GRACE.days} days ago "
            f"with their refresh tokens, used or expired links, mail sent more than "
            f"{FINISHED_MAIL_GRACE.days} day ago or failed more than "
            f"{FAILED_MAIL_GRACE.days} days ago, and audit rows older than "
            "AUDIT_RETENTION_DAYS, in batches of PRUNE_BATCH_SIZE."
        ),
    )


def run(settings: Settings) -> int:
    """Prune once; the exit status."""
    container = Container(settings)
    try:
        report = container.retention.prune()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        detail = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
        print(f"authapi: database error: {detail}", file=sys.stderr)
        return 1
    finally:
        container.close()
    _print(report)
    return 0


def _print(report: PruneReport) -> None:
    width = max(len(table) for table in report.deleted)
    print(f"pruned in {report.seconds:.2f} s")
    for table, count in report.deleted.items():
        print(f"  {table:<{width}}  {count:>9} deleted")
