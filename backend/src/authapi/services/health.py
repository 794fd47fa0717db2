"""Readiness of the two things a request needs: the database and the limiter storage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from authapi.db import ReadPool

logger = logging.getLogger(__name__)


def readiness(reads: ReadPool, storage_check: Callable[[], bool]) -> tuple[bool, bool]:
    """Whether the database and the limiter storage answer: run on one of the read
    pool's threads, so a probe takes one round trip to each and one thread hop."""
    return database_ok(reads), storage_ok(storage_check)


def database_ok(reads: ReadPool) -> bool:
    try:
        reads.read(lambda connection: connection.exec_driver_sql("SELECT 1"))
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
