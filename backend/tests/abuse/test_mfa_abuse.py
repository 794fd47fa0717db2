"""Abuse of the second factor: codes, recovery codes and mfa_tokens raced from many
threads at once, guessing, and what reaches the log, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from support import STRONG_PASSWORD, bearer, signup, unique_email

RACERS = 6


def enrolled(client: TestClient) -> tuple[str, str, str, list[str]]:
    """A new account with the factor on: email, access token, secret, recovery codes."""
    email = unique_email("mfa-race")
    token = signup(client, email)["access_token"]
    setup = client.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )
    secret = setup.json()["secret"]
    confirm = client.post(
        "/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=bearer(token)
    )
    assert confirm.status_code == 200, confirm.text
    return email, token, secret, confirm.json()["recovery_codes"]


def next_code(secret: str) -> str:
    """The next step's code: the current one was spent by the confirmation."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=1)


def mfa_token(client: TestClient, email: str) -> str:
    response = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["mfa_token"]
    return token


def race(client: TestClient, bodies: list[dict[str, str]]) -> Counter[tuple[int, str]]:
    """Send every body to /auth/mfa/verify at the same moment, one thread each."""
    barrier = threading.Barrier(len(bodies), timeout=30)

    def attempt(body: dict[str, str]) -> httpx.Response:
        racer = TestClient(client.app, raise_server_exceptions=False)
        try:
            barrier.wait()
            return racer.post("/auth/mfa/verify", json=body)
        finally:
            racer.close()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(attempt, bodies))
    return Counter(
        (r.status_code, r.json()["code"] if r.status_code >= 400 else "") for r in responses
    )


def test_one_code_raced_from_several_logins_is_accepted_once(roomy_client: TestClient) -> None:
    email, _token, secret, _codes = enrolled(roomy_client)
    tokens = [mfa_token(roomy_client, email) for _ in range(RACERS)]
    code = next_code(secret)

    outcome = race(roomy_client, [{"mfa_token": t, "code": code} for t in tokens])

    assert outcome == Counter({(200, ""): 1, (400, "invalid_code"): RACERS - 1}), outcome


def test_one_mfa_token_raced_with_its_code_gives_one_session(roomy_client: TestClient) -> None:
    email, token, secret, _codes = enrolled(roomy_client)
    shared = mfa_token(roomy_client, email)
    code = next_code(secret)

    outcome = race(roomy_client, [{"mfa_token": shared, "code": code}] * RACERS)

    assert outcome[(200, "")] == 1, outcome
    assert sum(outcome.values()) == RACERS
    assert set(outcome) <= {(200, ""), (400, "invalid_code"), (401, "token_invalid")}, outcome
    sessions = roomy_client.get("/auth/sessions", headers=bearer(token)).json()
    assert len(sessions) == 2  # the signup's and the one winner's


def test_one_recovery_code_raced_is_accepted_once(roomy_client: TestClient) -> None:
    email, _token, _secret, codes = enrolled(roomy_client)
    tokens = [mfa_token(roomy_client, email) for _ in range(RACERS)]

    outcome = race(roomy_client, [{"mfa_token": t, "code": codes[0]} for t in tokens])

    assert outcome == Counter({(200, ""): 1, (400, "invalid_code"): RACERS - 1}), outcome


def test_guessing_codes_stops_at_the_account_throttle_from_any_ip(
    make_client: Callable[..., TestClient],
) -> None:
    """Guesses spread over several mfa_tokens (and so several logins) add up: the
    throttle is per account, not per token."""
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=4)
    email, _token, secret, _codes = enrolled(client)
    right = next_code(secret)
    guesses = [f"{n:06d}" for n in range(10) if f"{n:06d}" != right][:4]

    for guess in guesses:
        response = client.post(
            "/auth/mfa/verify", json={"mfa_token": mfa_token(client, email), "code": guess}
        )
        assert response.status_code == 400, response.text

    blocked = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["code"] == "too_many_attempts"


def test_mfa_verify_has_its_own_per_ip_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_auth="3/minute")
    body = {"mfa_token": "made-up-token-of-a-valid-shape-0123456789ab", "code": "123456"}

    answers = [client.post("/auth/mfa/verify", json=body) for _ in range(4)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"].startswith('"mfa_verify"')
    # Its own count: login is not used up by the second step.
    login = client.post("/auth/login", json={"email": unique_email(), "password": "x"})
    assert login.status_code == 401, login.text


def test_no_secret_code_or_mfa_token_reaches_the_log(
    roomy_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email, token, secret, codes = enrolled(roomy_client)
    first = mfa_token(roomy_client, email)
    roomy_client.post("/auth/mfa/verify", json={"mfa_token": first, "code": codes[0]})
    second = mfa_token(roomy_client, email)
    roomy_client.post("/auth/mfa/verify", json={"mfa_token": second, "code": "k3mq-7vxa-2bnd-p4rt"})
    fresh = roomy_client.post(
        "/auth/mfa/recovery-codes",
        json={"password": STRONG_PASSWORD, "code": codes[1]},
        headers=bearer(token),
    ).json()["recovery_codes"]

    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {vars(record)!r}"
        for record in caplog.records
    )
    for value in (secret, first, second, *codes, *fresh, "k3mq-7vxa-2bnd-p4rt"):
        assert value not in logged, value
