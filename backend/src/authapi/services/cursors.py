"""Page cursors: the place where a page ended, as opaque base64url text, and the one
422 for a cursor that is not one of ours (or not of this listing)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from authapi import errors

T = TypeVar("T")


def encode(*parts: str) -> str:
    raw = "|".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(
    cursor: str,
    parse: Callable[[str], T],
    hint: str = "Use a next_cursor value as given.",
) -> T:
    """`parse` of the cursor's text; anything it raises ValueError (or IndexError)
    for, or text that is no base64url UTF-8, is 422 invalid_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return parse(raw)
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise errors.ValidationFailed(
            "The cursor is not valid.",
            errors=[{"field": "cursor", "message": hint, "code": "invalid_cursor"}],
        ) from None


def utc_time(text: str) -> datetime:
    """An aware ISO time, in UTC now, as the columns compare it (0001-01-01T00:00+05:00
    has no UTC: OverflowError)."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("naive cursor time")
    return when.astimezone(UTC)
