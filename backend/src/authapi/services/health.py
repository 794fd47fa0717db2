"""Readiness of the two things a request needs: the database and the limiter storage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio.to_thread

from authapi.db import ReadPool

logger = logging.getLogger(__name__)


async def readiness(reads: ReadPool, storage_check: Callable[[], bool]) -> tuple[bool, bool]:
    """Whether the database and the limiter storage answer, asked at once. The
    database on a read-pool thread (one round trip: no ping, BEGIN or ROLLBACK); the
    storage on anyio's threads, so that a Redis timing out (0.5 s a probe while it
    is down) never holds one of the token check's two threads."""
    return await asyncio.gather(
        reads.call(lambda: database_ok(reads)),
        anyio.to_thread.run_sync(storage_ok, storage_check),
    )


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
