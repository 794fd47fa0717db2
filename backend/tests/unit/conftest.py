"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from authapi.security import PasswordHasher


@pytest.fixture
def make_hasher() -> Iterator[Callable[[int], PasswordHasher]]:
    """Password hashers at a given cost, their worker threads shut down afterwards."""
    hashers: list[PasswordHasher] = []

    def make(rounds: int) -> PasswordHasher:
        hasher = PasswordHasher(rounds)
        hashers.append(hasher)
        return hasher

    yield make
    for hasher in hashers:
        hasher.close()
