"""Abuse of the mailed links and of the endpoints around them: reuse, races, expiry,
wrong purpose, guessing, what the database keeps, and the limits that stop floods
and password guessing behind a stolen access token."""

from __future__ import annotations

import secrets
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from authapi.models import Link, LinkPurpose, MailStatus, OutboxMessage
from authapi.models.base import utcnow
from authapi.security import hash_token
from smtp_sink import Mailbox, body, link_token
from support import STRONG_PASSWORD, bearer, signup, unique_email, wait_outbox_settled

RESET_SUBJECT = "Reset your password"
VERIFY_SUBJECT = "Confirm your email address"
NEW_PASSWORD = "Fresh9Meadow!"
RACERS = 8


# -- helpers -----------------------------------------------------------------------


def mails(box: Mailbox, address: str, subject: str) -> list[EmailMessage]:
    return [m for m in box.to(address) if m["Subject"] == subject]


def wait_mail(
    box: Mailbox, address: str, subject: str, count: int = 1, timeout: float = 15
) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        found = mails(box, address, subject)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} {subject!r} mail(s) to {address}")
        time.sleep(0.02)


def request_reset(client: TestClient, box: Mailbox, email: str) -> str:
    """Ask for a reset link and return the token of the newest one."""
    before = len(mails(box, email, RESET_SUBJECT))
    response = client.post("/auth/password/forgot", json={"email": email})
    assert response.status_code == 202, response.text
    return link_token(wait_mail(box, email, RESET_SUBJECT, before + 1)[-1])


def verify_token(box: Mailbox, email: str) -> str:
    return link_token(wait_mail(box, email, VERIFY_SUBJECT)[-1])


def login_status(client: TestClient, email: str, password: str) -> int:
    response = client.post("/auth/login", json={"email": email, "password": password})
    return response.status_code


def assert_link_invalid(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "link_invalid"


def reset(client: TestClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return client.post("/auth/password/reset", json={"token": token, "new_password": password})


def me(client: TestClient, email: str, password: str) -> dict[str, Any]:
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    response = client.get("/auth/me", headers=bearer(login.json()["access_token"]))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- reuse and races -----------------------------------------------------------------


def test_a_used_reset_link_does_not_work_again(mail_client: TestClient, mailbox: Mailbox) -> None:
    email = unique_email("reuse")
    signup(mail_client, email)
    token = request_reset(mail_client, mailbox, email)

    assert reset(mail_client, token, NEW_PASSWORD).status_code == 204
    second = reset(mail_client, token, "Other8Password!")

    assert_link_invalid(second)
    # The first use set NEW_PASSWORD; the second changed nothing.
    assert login_status(mail_client, email, NEW_PASSWORD) == 200
    assert login_status(mail_client, email, "Other8Password!") == 401
    assert login_status(mail_client, email, STRONG_PASSWORD) == 401


def test_concurrent_uses_of_one_reset_link_let_exactly_one_win(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("race")
    signup(mail_client, email)
    token = request_reset(mail_client, mailbox, email)
    passwords = [f"Racer{n}Horse!x" for n in range(RACERS)]
    barrier = threading.Barrier(RACERS, timeout=30)

    def attempt(password: str) -> httpx.Response:
        client = TestClient(mail_client.app, raise_server_exceptions=False)
        try:
            barrier.wait()
            return reset(client, token, password)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        responses = list(pool.map(attempt, passwords))

    outcome = Counter(
        (r.status_code, r.json()["code"] if r.status_code >= 400 else "") for r in responses
    )
    assert outcome == Counter({(204, ""): 1, (400, "link_invalid"): RACERS - 1}), outcome
    winner = next(p for p, r in zip(passwords, responses, strict=True) if r.status_code == 204)
    assert login_status(mail_client, email, winner) == 200
    for password in passwords:
        if password != winner:
            assert login_status(mail_client, email, password) == 401, password
    # One reset, one notice mail.
    wait_mail(mailbox, email, "Your password was changed")
    wait_outbox_settled(mail_client.app.state.container.engine)
    assert len(mails(mailbox, email, "Your password was changed")) == 1


def test_newer_links_and_password_changes_void_outstanding_reset_links(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("voided")
    signup(mail_client, email)
    older = request_reset(mail_client, mailbox, email)
    newer = request_reset(mail_client, mailbox, email)

    assert_link_invalid(reset(mail_client, older))  # a newer link voids older ones

    access = mail_client.post(
        "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    ).json()["access_token"]
    changed = mail_client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": "Owner5Changed!"},
        headers=bearer(access),
    )
    assert changed.status_code == 204, changed.text
    # Whoever held the reset link before the owner changed the password holds nothing.
    assert_link_invalid(reset(mail_client, newer))
    assert login_status(mail_client, email, "Owner5Changed!") == 200
    assert login_status(mail_client, email, NEW_PASSWORD) == 401


def test_a_refused_new_password_leaves_the_link_usable(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("weak")
    signup(mail_client, email)
    token = request_reset(mail_client, mailbox, email)

    weak = reset(mail_client, token, "password")
    assert weak.status_code == 422, weak.text
    assert weak.json()["code"] == "weak_password"
    assert login_status(mail_client, email, STRONG_PASSWORD) == 200
    assert reset(mail_client, token).status_code == 204


# -- expiry, purpose, guessing ------------------------------------------------------------


def test_an_expired_link_is_refused(mail_client: TestClient, mailbox: Mailbox) -> None:
    email = unique_email("expired")
    user_id = uuid.UUID(signup(mail_client, email)["user"]["id"])
    verify = verify_token(mailbox, email)
    token = request_reset(mail_client, mailbox, email)
    engine: Engine = mail_client.app.state.container.engine
    with engine.begin() as connection:
        expired = connection.execute(
            update(Link)
            .where(col(Link.user_id) == user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert expired.rowcount == 2  # the verification and the reset link

    assert_link_invalid(reset(mail_client, token))
    assert_link_invalid(mail_client.post("/auth/email/verify", json={"token": verify}))

    user = me(mail_client, email, STRONG_PASSWORD)  # the password did not change
    assert user["email_verified_at"] is None


def test_a_link_works_only_for_its_own_purpose(mail_client: TestClient, mailbox: Mailbox) -> None:
    email = unique_email("purpose")
    signup(mail_client, email)
    verify = verify_token(mailbox, email)
    reset_token = request_reset(mail_client, mailbox, email)

    assert_link_invalid(reset(mail_client, verify))
    assert_link_invalid(mail_client.post("/auth/email/verify", json={"token": reset_token}))

    user = me(mail_client, email, STRONG_PASSWORD)
    assert user["email_verified_at"] is None
    assert login_status(mail_client, email, NEW_PASSWORD) == 401
    # Neither wrong-purpose attempt spent the link: each still works where it belongs.
    verified = mail_client.post("/auth/email/verify", json={"token": verify})
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified_at"] is not None
    assert reset(mail_client, reset_token).status_code == 204
    assert login_status(mail_client, email, NEW_PASSWORD) == 200


def test_a_guessed_token_of_valid_shape_is_refused(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("guess")
    signup(mail_client, email)
    real = request_reset(mail_client, mailbox, email)
    guesses = [secrets.token_urlsafe(32) for _ in range(5)]
    assert all(len(guess) == len(real) for guess in guesses)

    for guess in guesses:
        assert_link_invalid(reset(mail_client, guess))
        assert_link_invalid(mail_client.post("/auth/email/verify", json={"token": guess}))

    assert login_status(mail_client, email, STRONG_PASSWORD) == 200
    assert reset(mail_client, real).status_code == 204  # the real link is untouched


# -- what the database keeps ---------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes_and_sent_bodies_are_erased(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("hashes")
    new_email = unique_email("moved")
    token = signup(mail_client, email)["access_token"]
    verify = verify_token(mailbox, email)
    first_reset = request_reset(mail_client, mailbox, email)
    second_reset = request_reset(mail_client, mailbox, email)  # voids the first
    change = mail_client.post(
        "/auth/email/change",
        json={"new_email": new_email, "password": STRONG_PASSWORD},
        headers=bearer(token),
    )
    assert change.status_code == 202, change.text
    change_token = link_token(wait_mail(mailbox, new_email, "Confirm your new email address")[-1])
    engine: Engine = mail_client.app.state.container.engine
    with Session(engine) as session:
        before_reset = {link.token_hash for link in session.exec(select(Link)).all()}
    assert reset(mail_client, second_reset).status_code == 204  # queues a notice with a body

    raw_tokens = [verify, first_reset, second_reset, change_token]
    assert len(set(raw_tokens)) == len(raw_tokens)
    outbox = wait_outbox_settled(engine)
    with Session(engine) as session:
        stored_links = list(session.exec(select(Link)).all())

    link_texts = [repr(link.model_dump()) for link in stored_links]
    outbox_texts = [repr(row.model_dump()) for row in outbox]
    for raw in raw_tokens:
        for text_ in link_texts + outbox_texts:
            assert raw not in text_
    # What is stored is the hash of the token that was mailed.
    assert hash_token(verify) in before_reset
    assert hash_token(change_token) in before_reset
    stored_hashes = {link.token_hash for link in stored_links}
    assert hash_token(second_reset) in stored_hashes  # used, kept until pruned
    # Voided: the first reset by the second, the others by the reset itself.
    for voided in (first_reset, verify, change_token):
        assert hash_token(voided) not in stored_hashes
    # Every message is out, and no body rests in the queue.
    assert len(outbox) >= 6
    assert {row.status for row in outbox} == {MailStatus.SENT.value}
    assert [row.body for row in outbox] == [None] * len(outbox)
    notice = wait_mail(mailbox, email, "Your password was changed")[-1]
    assert "reset with an emailed link" in body(notice)


# -- limits ---------------------------------------------------------------------------


def test_link_mails_per_address_are_limited_silently(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    email = unique_email("flooded")
    # Signed up through another instance, so its verification mail is not counted here.
    signup(make_client(mail_url=mailbox.url, rate_limit_auth="1000/minute"), email)
    wait_mail(mailbox, email, VERIFY_SUBJECT)
    client = make_client(
        mail_url=mailbox.url, rate_limit_auth="1000/minute", mail_rate_limit="2/hour"
    )

    # Spelled differently, the same address: one count.
    spellings = [email, email.upper(), email.capitalize(), f"  {email}"]
    responses = [client.post("/auth/password/forgot", json={"email": e}) for e in spellings]

    assert [r.status_code for r in responses] == [202] * 4
    assert len({r.content for r in responses}) == 1
    wait_mail(mailbox, email, RESET_SUBJECT, 2)
    outbox = wait_outbox_settled(client.app.state.container.engine)
    time.sleep(0.5)
    assert len(mails(mailbox, email, RESET_SUBJECT)) == 2
    assert len([r for r in outbox if r.kind == LinkPurpose.PASSWORD_RESET.value]) == 2


@pytest.mark.parametrize(
    ("path", "payload", "status"),
    [
        ("/auth/password/forgot", {"email": "someone@example.com"}, 202),
        ("/auth/password/reset", {"token": "A" * 43, "new_password": NEW_PASSWORD}, 400),
        ("/auth/email/verify", {"token": "A" * 43}, 400),
    ],
)
def test_link_endpoints_are_limited_per_ip(
    make_client: Callable[..., TestClient], path: str, payload: dict[str, str], status: int
) -> None:
    client = make_client(rate_limit_auth="3/minute")

    responses = [client.post(path, json=payload) for _ in range(4)]

    assert [r.status_code for r in responses] == [status] * 3 + [429]
    limited = responses[-1]
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # Another client address has its own count.
    other = TestClient(client.app, client=("192.0.2.77", 1000))
    assert other.post(path, json=payload).status_code == status


def test_forgot_and_reset_share_one_count_per_ip(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_auth="3/minute")
    forgot = {"email": "someone@example.com"}
    guess = {"token": "A" * 43, "new_password": NEW_PASSWORD}

    statuses = [
        client.post("/auth/password/forgot", json=forgot).status_code,
        client.post("/auth/password/reset", json=guess).status_code,
        client.post("/auth/password/forgot", json=forgot).status_code,
        client.post("/auth/password/reset", json=guess).status_code,
    ]

    assert statuses == [202, 400, 202, 429]


def _change_password(client: TestClient, token: str, password: str) -> httpx.Response:
    return client.post(
        "/auth/password/change",
        json={"current_password": password, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )


def _change_email(client: TestClient, token: str, password: str) -> httpx.Response:
    return client.post(
        "/auth/email/change",
        json={"new_email": unique_email("elsewhere"), "password": password},
        headers=bearer(token),
    )


def _delete(client: TestClient, token: str, password: str) -> httpx.Response:
    return client.post("/auth/me/delete", json={"password": password}, headers=bearer(token))


PASSWORD_CHECKS = {
    "password_change": _change_password,
    "email_change": _change_email,
    "delete": _delete,
}


@pytest.mark.parametrize("endpoint", list(PASSWORD_CHECKS))
def test_wrong_passwords_behind_a_token_count_in_the_account_throttle(
    make_client: Callable[..., TestClient], endpoint: str
) -> None:
    call = PASSWORD_CHECKS[endpoint]
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    email = unique_email("stolen")
    token = signup(client, email)["access_token"]

    wrong = [call(client, token, f"Wrong{n}-pass") for n in range(3)]
    assert [(r.status_code, r.json()["code"]) for r in wrong] == [(400, "wrong_password")] * 3

    # Now even the right password waits, at the endpoint and at login.
    blocked = call(client, token, STRONG_PASSWORD)
    login = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    for response in (blocked, login):
        assert response.status_code == 429, response.text
        assert response.json()["code"] == "too_many_attempts"
        assert int(response.headers["Retry-After"]) > 0
    # Nothing happened: the account, its password and its email are as they were.
    assert client.get("/auth/me", headers=bearer(token)).json()["email"] == email


def test_wrong_passwords_at_all_three_endpoints_add_up(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    email = unique_email("stolen")
    token = signup(client, email)["access_token"]

    statuses = [call(client, token, "Wrong1-pass").status_code for call in PASSWORD_CHECKS.values()]

    assert statuses == [400, 400, 400]
    login = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 429
    assert login.json()["code"] == "too_many_attempts"


# -- timing -------------------------------------------------------------------------------

TIMING_PAIRS = 100
TIMING_WARMUP = 5


def _comparable(response: httpx.Response) -> tuple[int, Any]:
    content: Any = response.json() if response.content else None
    if isinstance(content, dict):
        content = {key: value for key, value in content.items() if key != "request_id"}
    return response.status_code, content


def test_forgot_takes_as_long_for_unknown_addresses(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
        mail_address_limit="1000/hour",
    )
    known = unique_email("known")
    signup(client, known)

    engine: Engine = client.app.state.container.engine
    answers: list[tuple[int, Any]] = []

    def seconds(email: str) -> float:
        started = time.perf_counter()
        response = client.post("/auth/password/forgot", json={"email": email})
        elapsed = time.perf_counter() - started
        answers.append(_comparable(response))
        # The mail sender starts 50 ms after the commit, and sends (known) or drops
        # (unknown): let it finish before the next request, or its work lands on
        # whichever request runs then (unknown once measured x1.23 slower that way).
        wait_outbox_settled(engine, poll=0.005)
        return elapsed

    def pair(n: int) -> tuple[float, float]:
        # Alternating which goes first, so that an order effect hits both alike.
        if n % 2:
            unknown = seconds(unique_email("nobody"))
            return seconds(known), unknown
        return seconds(known), seconds(unique_email("nobody"))

    for n in range(TIMING_WARMUP):
        pair(n)
    # Interleaved, so that load from elsewhere on the machine hits both paths alike.
    pairs = [pair(n) for n in range(TIMING_PAIRS)]
    known_median = statistics.median(k for k, _ in pairs)
    unknown_median = statistics.median(u for _, u in pairs)

    assert answers[0][0] == 202
    assert all(answer == answers[0] for answer in answers), answers
    ratio = max(known_median, unknown_median) / min(known_median, unknown_median)
    print(f"forgot timing: known {known_median:.5f}s unknown {unknown_median:.5f}s x{ratio:.3f}")
    assert ratio < 1.2, f"known {known_median:.5f}s vs unknown {unknown_median:.5f}s"
    # The path measured is the real one: each known request queued a mail for the
    # account (sent as the sender catches up), each unknown one a mail to drop.
    with Session(engine) as session:
        queued = list(session.exec(select(OutboxMessage)).all())
    samples = TIMING_WARMUP + TIMING_PAIRS
    resets = [row for row in queued if row.kind == LinkPurpose.PASSWORD_RESET.value]
    assert sum(1 for row in resets if row.to_address == known and row.user_id) == samples
    assert sum(1 for row in resets if row.user_id is None) == samples
