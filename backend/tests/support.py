"""Constants and small helpers shared by the tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
STRONG_PASSWORD = "Correct7Horse!"

# Fast hashing in tests that are not about hashing cost; tests about it set their own.
FAST_ROUNDS = 4


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def signup(
    client: TestClient, email: str | None = None, password: str = STRONG_PASSWORD, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/auth/signup", json={"email": email or unique_email(), "password": password, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
