"""Email sign-in over HTTP, on SQLite and PostgreSQL, with the real SMTP sink: the
mailed link and the mailed code each sign in once, one voids the other, both expire,
five wrong codes void the mail, wrong codes count in the per-account throttle, the
second factor is still asked for, and an unknown address gets the same answer."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from api.api_helpers import assert_problem, assert_user
from api.test_api_mfa import enrol
from authapi.models import Link, LinkPurpose
from smtp_sink import Mailbox, body, link_token
from support import interleaved_medians, signup, unique_email, wait_outbox_settled

SUBJECT = "Your sign-in link and code"
CODE = re.compile(r"enter this code on the sign-in page: ([0-9]{6})")


@pytest.fixture
def app(mail_client: TestClient) -> TestClient:
    return mail_client


def ask(client: TestClient, email: str) -> httpx.Response:
    return client.post("/auth/email-login", json={"email": email})


def mail(mailbox: Mailbox, email: str, nth: int = 1) -> EmailMessage:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [m for m in mailbox.to(email) if m["Subject"] == SUBJECT]
        if len(found) >= nth:
            return found[nth - 1]
        time.sleep(0.02)
    raise AssertionError(f"no sign-in mail number {nth} for {email}")


def code_of(message: EmailMessage) -> str:
    found = CODE.search(body(message))
    assert found is not None, body(message)
    return found.group(1)


def verify(client: TestClient, **fields: Any) -> httpx.Response:
    return client.post("/auth/email-login/verify", json=fields)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_mailed_link_signs_in_once_and_proves_the_address(
    app: TestClient, mailbox: Mailbox
) -> None:
    email = signup(app)["user"]["email"]

    assert ask(app, email).status_code == 202
    message = mail(mailbox, email)
    signed_in = verify(app, token=link_token(message))

    assert signed_in.status_code == 200, signed_in.text
    assert_user(signed_in.json()["user"], email)
    assert signed_in.json()["user"]["email_verified_at"] is not None
    assert signed_in.json()["access_token"]
    assert_problem(verify(app, token=link_token(message)), 400, "link_invalid")
    # The code of the same mail was spent with it.
    assert_problem(verify(app, email=email, code=code_of(message)), 400, "invalid_code")


def test_the_mailed_code_signs_in_once_and_voids_the_link(
    app: TestClient, mailbox: Mailbox
) -> None:
    email = signup(app)["user"]["email"]
    ask(app, email)
    message = mail(mailbox, email)

    signed_in = verify(app, email=email.upper(), code=code_of(message))

    assert signed_in.status_code == 200, signed_in.text
    assert_problem(verify(app, email=email, code=code_of(message)), 400, "invalid_code")
    assert_problem(verify(app, token=link_token(message)), 400, "link_invalid")


def test_a_newer_mail_voids_the_older_one(app: TestClient, mailbox: Mailbox) -> None:
    email = signup(app)["user"]["email"]
    ask(app, email)
    first = mail(mailbox, email)
    ask(app, email)
    second = mail(mailbox, email, 2)

    assert_problem(verify(app, token=link_token(first)), 400, "link_invalid")
    assert verify(app, email=email, code=code_of(second)).status_code == 200


def test_the_link_and_the_code_expire_after_15_minutes(app: TestClient, mailbox: Mailbox) -> None:
    email = signup(app)["user"]["email"]
    ask(app, email)
    message = mail(mailbox, email)
    with Session(app.app.state.container.engine) as session:  # type: ignore[attr-defined]
        row = session.query(Link).filter_by(purpose=LinkPurpose.EMAIL_LOGIN.value).first()
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(minutes=15)
        session.execute(
            update(Link)
            .where(Link.purpose == LinkPurpose.EMAIL_LOGIN.value)  # type: ignore[arg-type]
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()

    assert_problem(verify(app, email=email, code=code_of(message)), 400, "invalid_code")
    assert_problem(verify(app, token=link_token(message)), 400, "link_invalid")


def test_five_wrong_codes_void_the_mail(app: TestClient, mailbox: Mailbox) -> None:
    email = signup(app)["user"]["email"]
    ask(app, email)
    message = mail(mailbox, email)
    right = code_of(message)

    for _ in range(5):
        assert_problem(verify(app, email=email, code=wrong(right)), 400, "invalid_code")

    assert_problem(verify(app, email=email, code=right), 400, "invalid_code")
    assert_problem(verify(app, token=link_token(message)), 400, "link_invalid")


def test_four_wrong_codes_leave_the_right_one_working(app: TestClient, mailbox: Mailbox) -> None:
    email = signup(app)["user"]["email"]
    ask(app, email)
    right = code_of(mail(mailbox, email))

    for _ in range(4):
        verify(app, email=email, code=wrong(right))

    assert verify(app, email=email, code=right).status_code == 200


def test_wrong_codes_count_in_the_per_account_throttle(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(mail_url=mailbox.url, rate_limit_auth="1000/minute", login_failure_limit=3)
    email = signup(client)["user"]["email"]
    client.post("/auth/login", json={"email": email, "password": "Wrong-pass-1"})
    client.post("/auth/login", json={"email": email, "password": "Wrong-pass-1"})
    ask(client, email)
    right = code_of(mail(mailbox, email))

    assert_problem(verify(client, email=email, code=wrong(right)), 400, "invalid_code")
    limited = verify(client, email=email, code=right)

    assert_problem(limited, 429, "too_many_attempts")
    assert int(limited.headers["retry-after"]) > 0


def test_the_second_factor_is_still_asked_for(app: TestClient, mailbox: Mailbox) -> None:
    created = signup(app)
    email = created["user"]["email"]
    enrol(app, created["access_token"])
    ask(app, email)

    answer = verify(app, token=link_token(mail(mailbox, email)))

    assert answer.status_code == 200, answer.text
    assert answer.json()["mfa_required"] is True
    assert "access_token" not in answer.json()


def test_an_unknown_or_disabled_address_gets_the_same_answer_and_no_mail(
    app: TestClient, mailbox: Mailbox
) -> None:
    known = signup(app)["user"]["email"]
    unknown = unique_email("nobody")

    answers = [ask(app, address) for address in (known, unknown)]

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    mail(mailbox, known)
    wait_outbox_settled(app.app.state.container.engine)  # type: ignore[attr-defined]
    assert mailbox.to(unknown) == []
    assert_problem(verify(app, email=unknown, code="123456"), 400, "invalid_code")


def test_asking_takes_as_long_for_an_unknown_address(app: TestClient) -> None:
    """Measured as the forgot-password timing test does: interleaved pairs, the
    sender settled between requests."""
    client = app
    known = signup(client)["user"]["email"]
    engine = client.app.state.container.engine  # type: ignore[attr-defined]

    def seconds(email: str) -> float:
        started = time.perf_counter()
        assert ask(client, email).status_code == 202
        elapsed = time.perf_counter() - started
        wait_outbox_settled(engine, poll=0.005)
        return elapsed

    known_median, unknown_median = interleaved_medians(
        lambda: seconds(known), lambda: seconds(unique_email("nobody")), pairs=60
    )
    ratio = unknown_median / known_median
    print(
        f"email-login timing: known {known_median:.5f}s unknown {unknown_median:.5f}s {ratio:.3f}"
    )
    assert 0.8 < ratio < 1.25, f"known {known_median:.5f}s vs unknown {unknown_median:.5f}s"


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "a@example.com", "code": "12345"},
        {"email": "a@example.com", "code": "1234567"},
        {"email": "a@example.com", "code": "12a456"},
        {"email": "a@example.com", "code": "12\x00456"},
        {"email": "a@example.com"},
        {"code": "123456"},
        {"token": "x" * 129},
        {"token": "short"},
        {"token": "a" * 43, "code": "123456"},
        {"email": "a@example.com", "code": "123456", "extra": 1},
        {},
    ],
)
def test_bad_verify_bodies_are_a_422_and_echo_nothing(
    app: TestClient, fields: dict[str, Any]
) -> None:
    response = verify(app, **fields)

    assert_problem(response, 422, "validation_error")
    for value in fields.values():
        if isinstance(value, str) and len(value) > 6:
            assert value not in response.text


@pytest.mark.parametrize("body", [{"email": "not an email"}, {"email": "a\x00@example.com"}, {}])
def test_a_bad_request_body_is_a_422(app: TestClient, body: dict[str, Any]) -> None:
    assert_problem(app.post("/auth/email-login", json=body), 422, "validation_error")


def test_a_sign_in_is_audited(app: TestClient, mailbox: Mailbox) -> None:
    created = signup(app)
    email, user_id = created["user"]["email"], created["user"]["id"]
    ask(app, email)
    verify(app, email=email, code=wrong(code_of(mail(mailbox, email))))
    ask(app, email)
    signed_in = verify(app, token=link_token(mail(mailbox, email, 2))).json()

    trail = app.get(
        f"/api/{user_id}/auth-events",
        headers={"Authorization": f"Bearer {signed_in['access_token']}"},
        params={"limit": 100},
    ).json()["items"]
    kinds = [(row["event_type"], row["reason"]) for row in trail]
    assert ("email_login_requested", None) in kinds
    assert ("login_failure", "wrong_email_code") in kinds
    assert ("login_success", "email") in kinds
