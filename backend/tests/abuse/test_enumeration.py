"""Login answers do not reveal which emails have accounts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from support import signup, unique_email

# A realistic cost, so that the bcrypt work dominates and the dummy hash matters.
ROUNDS = 10
SAMPLES = 15


def _comparable(body: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in body.items() if key != "request_id"}


def test_unknown_email_and_wrong_password_get_the_same_answer(
    roomy_client: TestClient,
) -> None:
    email = unique_email()
    signup(roomy_client, email)

    unknown = roomy_client.post(
        "/auth/login", json={"email": unique_email(), "password": "Wrong-pass-1"}
    )
    wrong = roomy_client.post("/auth/login", json={"email": email, "password": "Wrong-pass-1"})

    assert unknown.status_code == wrong.status_code == 401
    assert _comparable(unknown.json()) == _comparable(wrong.json())
    assert unknown.headers["content-type"] == wrong.headers["content-type"]


def test_unknown_email_takes_as_long_as_a_wrong_password(
    make_client: Callable[..., TestClient],
) -> None:
    """Without the dummy-hash verification the unknown path is ~100x faster."""
    client = make_client(
        bcrypt_rounds=ROUNDS, rate_limit_auth="1000/minute", login_failure_limit=1000
    )
    email = unique_email()
    signup(client, email)

    def seconds(login_email: str) -> float:
        body = {"email": login_email, "password": "Wrong-pass-1"}
        started = time.perf_counter()
        assert client.post("/auth/login", json=body).status_code == 401
        return time.perf_counter() - started

    # Interleaved, so that load from elsewhere on the machine hits both paths alike.
    pairs = [(seconds(email), seconds(unique_email())) for _ in range(SAMPLES)]
    wrong_password = statistics.median(wrong for wrong, _ in pairs)
    unknown_email = statistics.median(unknown for _, unknown in pairs)

    ratio = max(wrong_password, unknown_email) / min(wrong_password, unknown_email)
    assert ratio < 1.5, f"wrong password {wrong_password:.4f}s vs unknown {unknown_email:.4f}s"
