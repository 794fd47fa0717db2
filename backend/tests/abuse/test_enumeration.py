"""Login answers do not reveal which emails have accounts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from smtp_sink import Mailbox
from support import STRONG_PASSWORD as PASSWORD
from support import interleaved_medians, signup, unique_email, wait_outbox_settled

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


def test_a_verified_mode_signup_for_a_taken_address_takes_as_long_as_for_a_new_one(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    """With REQUIRE_VERIFIED_EMAIL=true a taken address gets the same 202 in the same
    time as a new one: each hashes the password once and queues one mail (a
    verification link, or the owner's notice). Measured as the forgot-password
    timing test does: interleaved pairs, the sender settled between requests."""
    client = make_client(
        bcrypt_rounds=ROUNDS,
        require_verified_email=True,
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
        mail_address_limit="1000/hour",
    )
    taken = unique_email("taken")
    assert (
        client.post("/auth/signup", json={"email": taken, "password": PASSWORD}).status_code == 202
    )
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    answers: list[dict[str, object]] = []

    def seconds(email: str) -> float:
        started = time.perf_counter()
        response = client.post("/auth/signup", json={"email": email, "password": PASSWORD})
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.text
        answers.append(_comparable(response.json()))
        wait_outbox_settled(engine, poll=0.005)
        return elapsed

    taken_median, new_median = interleaved_medians(
        lambda: seconds(taken), lambda: seconds(unique_email("new")), pairs=SAMPLES * 2, warmup=3
    )

    assert all(answer == answers[0] for answer in answers), answers
    ratio = taken_median / new_median
    print(f"signup timing: taken {taken_median:.5f}s new {new_median:.5f}s ratio {ratio:.3f}")
    assert 0.8 < ratio < 1.25, f"taken {taken_median:.5f}s vs new {new_median:.5f}s"
    notices = [m for m in mailbox.to(taken) if "tried to sign up" in str(m["Subject"])]
    assert notices  # the owner heard of it (within the address's mail limit)
