"""Readiness of the two things a request needs: the database and the limiter storage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from authapi.db import ReadPool

logger = logging.getLogger(__name__)


def readiness(probes: ReadPool, storage_check: Callable[[], bool]) -> tuple[bool, bool]:
    """Whether the database and the limiter storage answer: on the probe's own read
    pool thread (main.py), one round trip to each (no ping, BEGIN or ROLLBACK). A
    pool of its own: a probe never queues behind token checks, and a Redis timing
    out (0.5 s a probe while it is down) never holds a token check's thread."""
    return database_ok(probes), storage_ok(storage_check)


def database_ok(reads: ReadPool) -> bool:
    """On a read-pool thread."""
    try:
        reads.read(lambda connection: connection.exec_driver_sql("SELECT 1").scalar())
    except Exception:
        logger.warning("health: database unreachable", exc_info=True)
        return False
    return True


def storage_ok(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        logger.warning("health: rate-limit storage unreachable", exc_info=True)
        return False
