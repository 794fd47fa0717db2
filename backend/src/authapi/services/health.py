"""Readiness of the two things a request needs: the database and the limiter storage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
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
