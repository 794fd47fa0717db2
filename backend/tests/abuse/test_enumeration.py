"""Login answers do not reveal which emails have accounts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from support import signup, unique_email

# A realistic cost, so that the bcrypt work dominates and the dummy hash matters.
ROUNDS = 10
SAMPLES = 9


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

    def median_seconds(login_email: Callable[[], str]) -> float:
        durations = []
        for _ in range(SAMPLES):
            body = {"email": login_email(), "password": "Wrong-pass-1"}
            started = time.perf_counter()
            assert client.post("/auth/login", json=body).status_code == 401
            durations.append(time.perf_counter() - started)
        return statistics.median(durations)

    wrong_password = median_seconds(lambda: email)
    unknown_email = median_seconds(unique_email)

    ratio = max(wrong_password, unknown_email) / min(wrong_password, unknown_email)
    assert ratio < 1.5, f"wrong password {wrong_password:.4f}s vs unknown {unknown_email:.4f}s"
