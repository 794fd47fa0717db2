"""The account's life by email, over HTTP, with every mail read from a real SMTP
server: verification, resend, forgot and reset, password change, email change,
deletion, the profile, and REQUIRE_VERIFIED_EMAIL."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.api_helpers import (
    assert_no_secret,
    assert_problem,
    assert_user,
    auth_events,
    login,
    login_token,
    parse_utc,
)
from authapi.models import AuthEvent, AuthSession, Link, OutboxMessage, User
from smtp_sink import Mailbox, body, link_token
from support import STRONG_PASSWORD, bearer, signup, unique_email

NEW_PASSWORD = "Fresh8Meadow!"
WEAK_PASSWORD = "weakling"
WRONG_PASSWORD = "Wrong7Guess!"
# Mail normally arrives well under a second after the commit that queued it.
MAIL_TIMEOUT = 5.0

VERIFY_SUBJECT = "Confirm your email address"
CHANGE_SUBJECT = "Confirm your new email address"
RESET_SUBJECT = "Reset your password"
CHANGED_SUBJECT = "Your password was changed"
CHANGE_NOTICE_SUBJECT = "Your email address is being changed"

VERIFY_URL = "http://127.0.0.1:5173/#/verify-email?token="
RESET_URL = "http://127.0.0.1:5173/#/reset-password?token="


# -- helpers -------------------------------------------------------------------------


def wait_mail(
    mailbox: Mailbox, address: str, subject: str, count: int = 1, timeout: float = MAIL_TIMEOUT
) -> EmailMessage:
    """The `count`-th message with this subject to `address`, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailbox.to(address) if m["Subject"] == subject]
        if len(found) >= count:
            return found[count - 1]
        if time.monotonic() > deadline:
            subjects = [m["Subject"] for m in mailbox.to(address)]
            raise AssertionError(
                f"expected {count} {subject!r} message(s) to {address} within {timeout} s; "
                f"got {subjects}"
            )
        time.sleep(0.02)


def subjects_to(mailbox: Mailbox, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(address)]


def outbox_rows(client: TestClient, address: str) -> list[OutboxMessage]:
    with Session(client.app.state.container.engine) as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.to_address == address)).all()
        )


def wait_outbox_settled(
    client: TestClient, address: str, count: int, timeout: float = MAIL_TIMEOUT
) -> list[OutboxMessage]:
    """The `count` queued messages to `address`, once the sender is done with them all."""
    deadline = time.monotonic() + timeout
    while True:
        rows = outbox_rows(client, address)
        if len(rows) >= count and all(row.status != "queued" for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(
                f"outbox to {address}: {[(r.kind, r.status) for r in rows]} "
                f"(expected {count} settled) within {timeout} s"
            )
        time.sleep(0.02)


def event_types(client: TestClient, user_id: str, token: str) -> list[str]:
    response = auth_events(client, user_id, token, limit=100)
    assert response.status_code == 200, response.text
    return [item["event_type"] for item in response.json()["items"]]


def me(client: TestClient, token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(token))


def verify(client: TestClient, token: str) -> httpx.Response:
    return client.post("/auth/email/verify", json={"token": token})


def reset(client: TestClient, token: str, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return client.post("/auth/password/reset", json={"token": token, "new_password": new_password})


def forgot(client: TestClient, email: str) -> httpx.Response:
    return client.post("/auth/password/forgot", json={"email": email})


def change_password(
    client: TestClient, token: str, current: str = STRONG_PASSWORD, new: str = NEW_PASSWORD
) -> httpx.Response:
    return client.post(
        "/auth/password/change",
        json={"current_password": current, "new_password": new},
        headers=bearer(token),
    )


def change_email(
    client: TestClient, token: str, new_email: str, password: str = STRONG_PASSWORD
) -> httpx.Response:
    return client.post(
        "/auth/email/change",
        json={"new_email": new_email, "password": password},
        headers=bearer(token),
    )


def assert_token_refused(response: httpx.Response, *codes: str) -> None:
    assert response.status_code == 401, response.text
    assert_problem(response, 401, response.json()["code"])
    assert response.json()["code"] in codes, response.text


def reset_token(client: TestClient, mailbox: Mailbox, email: str, count: int = 1) -> str:
    """Ask for a reset link and take its token from the mail."""
    response = forgot(client, email)
    assert response.status_code == 202, response.text
    message = wait_mail(mailbox, email, RESET_SUBJECT, count)
    assert RESET_URL in body(message)
    return link_token(message)


# -- email verification --------------------------------------------------------------


def test_signup_mails_a_link_that_verifies_the_address(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The link in the signup mail confirms the address once, and the audit shows it."""
    created = signup(mail_client)
    email, user_id = created["user"]["email"], created["user"]["id"]
    assert created["user"]["email_verified_at"] is None

    message = wait_mail(mailbox, email, VERIFY_SUBJECT)
    token = link_token(message)
    response = verify(mail_client, token)

    assert response.status_code == 200, response.text
    assert_user(response.json(), email)
    assert response.json()["id"] == user_id
    verified_at = parse_utc(response.json()["email_verified_at"])
    assert_no_secret(response, token)
    seen = me(mail_client, created["access_token"]).json()["email_verified_at"]
    assert seen is not None
    assert parse_utc(seen) == verified_at
    assert "email_verified" in event_types(mail_client, user_id, created["access_token"])
    assert_problem(verify(mail_client, token), 400, "link_invalid")


def test_verification_mail_is_plain_text_with_a_long_random_token(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The mail points at the SPA; the token is long, and the database keeps only its
    hash and no copy of the sent body."""
    email = signup(mail_client)["user"]["email"]

    message = wait_mail(mailbox, email, VERIFY_SUBJECT)
    token = link_token(message)

    assert message["To"] == email
    assert message["From"]
    assert VERIFY_URL + token in body(message)
    assert len(token) >= 22, "at least 128 random bits"
    [row] = wait_outbox_settled(mail_client, email, 1)
    assert row.status == "sent"
    assert row.body is None
    with Session(mail_client.app.state.container.engine) as session:
        stored = session.exec(select(Link).where(Link.email == email)).all()
    assert len(stored) == 1
    assert stored[0].token_hash != token
    assert token not in stored[0].token_hash


def test_resend_mails_a_fresh_link_and_voids_the_older_one(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Only the newest verification link works."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    first = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT))

    response = mail_client.post("/auth/email/verify/resend", headers=bearer(access))

    assert response.status_code == 202, response.text
    second = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT, count=2))
    assert second != first
    assert_problem(verify(mail_client, first), 400, "link_invalid")
    assert verify(mail_client, second).status_code == 200
    assert_problem(verify(mail_client, first), 400, "link_invalid")


def test_resend_when_already_verified_sends_nothing(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """A verified address gets no more verification mail, and no link is minted."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    token = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT))
    assert verify(mail_client, token).status_code == 200

    response = mail_client.post("/auth/email/verify/resend", headers=bearer(access))

    assert response.status_code == 202, response.text
    rows = wait_outbox_settled(mail_client, email, 1)
    assert [row.kind for row in rows] == ["verify_email"], "nothing more was queued"
    assert subjects_to(mailbox, email) == [VERIFY_SUBJECT]


def test_links_are_bound_to_their_purpose(mail_client: TestClient, mailbox: Mailbox) -> None:
    """A verification link cannot reset a password, and a reset link verifies nothing."""
    email = signup(mail_client)["user"]["email"]
    verify_token = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT))
    reset_link = reset_token(mail_client, mailbox, email)

    assert_problem(reset(mail_client, verify_token), 400, "link_invalid")
    assert_problem(verify(mail_client, reset_link), 400, "link_invalid")
    assert verify(mail_client, verify_token).status_code == 200
    assert reset(mail_client, reset_link).status_code == 204


# -- forgot and reset ----------------------------------------------------------------


def test_forgot_reset_then_login_with_the_new_password(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The whole way back into an account: every old session is out, a notice goes to
    the owner, and the address counts as verified (the link reached its inbox)."""
    created = signup(mail_client)
    email, user_id = created["user"]["email"], created["user"]["id"]
    earlier = [created["access_token"], login_token(mail_client, email)]

    response = forgot(mail_client, email)
    assert response.status_code == 202, response.text
    message = wait_mail(mailbox, email, RESET_SUBJECT)
    token = link_token(message)
    assert RESET_URL + token in body(message)
    done = reset(mail_client, token)

    assert done.status_code == 204, done.text
    assert done.content == b""
    for access in earlier:
        assert_token_refused(me(mail_client, access), "token_revoked")
    assert_problem(login(mail_client, email, STRONG_PASSWORD), 401, "invalid_credentials")
    fresh = login(mail_client, email, NEW_PASSWORD)
    assert fresh.status_code == 200, fresh.text
    parse_utc(fresh.json()["user"]["email_verified_at"])
    notice = wait_mail(mailbox, email, CHANGED_SUBJECT)
    assert "reset" in body(notice)
    assert "token=" not in body(notice)
    events = event_types(mail_client, user_id, fresh.json()["access_token"])
    assert {"password_reset_requested", "password_reset"} <= set(events)
    assert_problem(reset(mail_client, token, "Another9Secret!"), 400, "link_invalid")


def test_reset_with_weak_password_is_422_and_the_link_stays_usable(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """A refused password costs the user nothing: the same link works for a better one."""
    created = signup(mail_client)
    email = created["user"]["email"]
    token = reset_token(mail_client, mailbox, email)

    refused = reset(mail_client, token, WEAK_PASSWORD)

    body_ = assert_problem(refused, 422, "weak_password")
    assert body_["errors"]
    assert_no_secret(refused, WEAK_PASSWORD, token)
    assert me(mail_client, created["access_token"]).status_code == 200, "nothing changed yet"
    assert login(mail_client, email, STRONG_PASSWORD).status_code == 200
    assert reset(mail_client, token).status_code == 204
    assert login(mail_client, email, NEW_PASSWORD).status_code == 200


def test_newer_reset_link_voids_the_older_one(mail_client: TestClient, mailbox: Mailbox) -> None:
    """Only the latest reset mail counts; an older one lying in the inbox is dead."""
    email = signup(mail_client)["user"]["email"]
    first = reset_token(mail_client, mailbox, email)
    second = reset_token(mail_client, mailbox, email, count=2)

    assert_problem(reset(mail_client, first), 400, "link_invalid")
    assert reset(mail_client, second).status_code == 204


def test_concurrent_uses_of_one_reset_link_let_exactly_one_through(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Four clicks at once with four passwords: one wins, the others are told the link
    is spent, and the winner's password is the one that works."""
    email = signup(mail_client)["user"]["email"]
    token = reset_token(mail_client, mailbox, email)
    passwords = [f"Racer{n}Winner!x" for n in range(4)]
    start = threading.Barrier(len(passwords))

    def attempt(password: str) -> httpx.Response:
        start.wait(timeout=5)
        return reset(mail_client, token, password)

    with ThreadPoolExecutor(len(passwords)) as pool:
        responses = list(pool.map(attempt, passwords))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [204, 400, 400, 400], [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_problem(response, 400, "link_invalid")
    [winner] = [p for p, r in zip(passwords, responses, strict=True) if r.status_code == 204]
    assert login(mail_client, email, winner).status_code == 200
    for loser in set(passwords) - {winner}:
        assert_problem(login(mail_client, email, loser), 401, "invalid_credentials")
    assert len(mailbox.to(email)) >= 2
    wait_mail(mailbox, email, CHANGED_SUBJECT)
    time.sleep(0.2)
    assert subjects_to(mailbox, email).count(CHANGED_SUBJECT) == 1, "one reset, one notice"


def test_link_mails_beyond_mail_rate_limit_are_not_sent_but_answer_the_same(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    """MAIL_RATE_LIMIT per address: the answer stays 202, the mail stays home."""
    client = make_client(
        mail_url=mailbox.url, rate_limit_auth="1000/minute", mail_rate_limit="2/hour"
    )
    created = signup(client)  # the verification mail is the first of two
    email = created["user"]["email"]
    first = forgot(client, email)

    over = [forgot(client, email), forgot(client, email)]
    resend = client.post("/auth/email/verify/resend", headers=bearer(created["access_token"]))

    assert [r.status_code for r in over] == [202, 202]
    assert all(r.content == first.content for r in over)
    assert resend.status_code == 202
    rows = wait_outbox_settled(client, email, 2)
    assert sorted(row.kind for row in rows) == ["password_reset", "verify_email"]
    wait_mail(mailbox, email, RESET_SUBJECT)
    assert sorted(subjects_to(mailbox, email)) == sorted([VERIFY_SUBJECT, RESET_SUBJECT])


def test_reset_lets_the_owner_in_past_the_account_throttle(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    """Someone hammered the login; whoever holds the inbox gets back in at once."""
    client = make_client(
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
        login_failure_limit=3,
    )
    email = signup(client)["user"]["email"]
    for _ in range(3):
        assert_problem(login(client, email, WRONG_PASSWORD), 401, "invalid_credentials")
    assert_problem(login(client, email), 429, "too_many_attempts")

    assert reset(client, reset_token(client, mailbox, email)).status_code == 204

    assert login(client, email, NEW_PASSWORD).status_code == 200


def test_link_tokens_and_passwords_never_reach_the_log(
    mail_client: TestClient, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """With SMTP, a link's token exists only in the mail."""
    caplog.set_level(logging.DEBUG)
    created = signup(mail_client)
    email = created["user"]["email"]
    verify_token = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT))
    assert verify(mail_client, verify_token).status_code == 200
    token = reset_token(mail_client, mailbox, email)
    assert_problem(reset(mail_client, token, WEAK_PASSWORD), 422, "weak_password")
    assert reset(mail_client, token).status_code == 204
    assert_problem(reset(mail_client, token), 400, "link_invalid")
    wait_mail(mailbox, email, CHANGED_SUBJECT)

    assert caplog.records, "caplog saw nothing; the test would be vacuous"
    for secret in (verify_token, token, STRONG_PASSWORD, NEW_PASSWORD, WEAK_PASSWORD):
        assert secret not in caplog.text


def test_forgot_for_unknown_address_answers_the_same_and_sends_nothing(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Nobody learns from the answer whether an address has an account."""
    known = signup(mail_client)["user"]["email"]
    unknown = unique_email("nobody")

    for_known = forgot(mail_client, known)
    for_unknown = forgot(mail_client, unknown)

    assert for_known.status_code == for_unknown.status_code == 202
    assert for_known.content == for_unknown.content
    assert for_known.headers["content-type"] == for_unknown.headers["content-type"]
    wait_mail(mailbox, known, RESET_SUBJECT)
    [row] = wait_outbox_settled(mail_client, unknown, 1)
    assert row.status == "dropped"
    assert row.body is None
    assert mailbox.to(unknown) == []
    with Session(mail_client.app.state.container.engine) as session:
        assert session.exec(select(Link).where(Link.email == unknown)).all() == []


# -- password change -----------------------------------------------------------------


def test_change_password_keeps_this_session_and_ends_the_others(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The device that changed the password stays in; every other one is out."""
    created = signup(mail_client)
    email, user_id, access = (
        created["user"]["email"],
        created["user"]["id"],
        created["access_token"],
    )
    others = [login_token(mail_client, email), login_token(mail_client, email)]

    response = change_password(mail_client, access)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert me(mail_client, access).status_code == 200, "this session stays"
    for other in others:
        assert_token_refused(me(mail_client, other), "token_revoked")
    assert_problem(login(mail_client, email, STRONG_PASSWORD), 401, "invalid_credentials")
    assert login(mail_client, email, NEW_PASSWORD).status_code == 200
    notice = wait_mail(mailbox, email, CHANGED_SUBJECT)
    assert "changed" in body(notice)
    assert "password_changed" in event_types(mail_client, user_id, access)


def test_change_password_with_wrong_current_is_400_and_changes_nothing(
    mail_client: TestClient,
) -> None:
    """A stolen token alone cannot change the password."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    other = login_token(mail_client, email)

    response = change_password(mail_client, access, current=WRONG_PASSWORD)

    assert_problem(response, 400, "wrong_password")
    assert_no_secret(response, WRONG_PASSWORD, NEW_PASSWORD)
    assert me(mail_client, other).status_code == 200
    assert login(mail_client, email, STRONG_PASSWORD).status_code == 200
    assert_problem(login(mail_client, email, NEW_PASSWORD), 401, "invalid_credentials")


def test_change_password_to_a_weak_one_is_422_and_changes_nothing(
    mail_client: TestClient,
) -> None:
    """A refused new password leaves the old one and every session as they were."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    other = login_token(mail_client, email)

    response = change_password(mail_client, access, new=WEAK_PASSWORD)

    problem = assert_problem(response, 422, "weak_password")
    assert problem["errors"]
    assert_no_secret(response, WEAK_PASSWORD)
    assert me(mail_client, other).status_code == 200
    assert login(mail_client, email, STRONG_PASSWORD).status_code == 200


def test_change_password_voids_an_outstanding_reset_link(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Whoever changed the password holds the account: a reset link mailed earlier
    (perhaps to someone reading the inbox) is void."""
    created = signup(mail_client)
    email = created["user"]["email"]
    token = reset_token(mail_client, mailbox, email)

    assert change_password(mail_client, created["access_token"]).status_code == 204

    assert_problem(reset(mail_client, token, "Another9Secret!"), 400, "link_invalid")
    assert login(mail_client, email, NEW_PASSWORD).status_code == 200


def test_wrong_current_password_counts_in_the_account_throttle(
    make_client: Callable[..., TestClient],
) -> None:
    """A stolen token is no way to guess the password without limit."""
    client = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    access = signup(client)["access_token"]
    for _ in range(3):
        assert_problem(
            change_password(client, access, current=WRONG_PASSWORD), 400, "wrong_password"
        )

    response = change_password(client, access)

    assert_problem(response, 429, "too_many_attempts")
    assert int(response.headers["Retry-After"]) >= 1


# -- email change --------------------------------------------------------------------


def test_email_change_takes_effect_only_when_the_link_is_used(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The address changes only once its owner clicks; the old one is told, and links
    sent to it stop working."""
    created = signup(mail_client)
    old, user_id, access = created["user"]["email"], created["user"]["id"], created["access_token"]
    new = unique_email("moved")
    wait_mail(mailbox, old, VERIFY_SUBJECT)
    old_reset = reset_token(mail_client, mailbox, old)

    response = change_email(mail_client, access, new)

    assert response.status_code == 202, response.text
    confirmation = wait_mail(mailbox, new, CHANGE_SUBJECT)
    notice = wait_mail(mailbox, old, CHANGE_NOTICE_SUBJECT)
    assert new in body(notice)
    assert "token=" not in body(notice), "the old address gets no link"
    assert me(mail_client, access).json()["email"] == old
    assert_problem(login(mail_client, new), 401, "invalid_credentials")

    token = link_token(confirmation)
    assert VERIFY_URL + token in body(confirmation)
    confirmed = verify(mail_client, token)

    assert confirmed.status_code == 200, confirmed.text
    assert_user(confirmed.json(), new)
    parse_utc(confirmed.json()["email_verified_at"])
    assert me(mail_client, access).json()["email"] == new
    assert login(mail_client, new).status_code == 200
    assert_problem(login(mail_client, old), 401, "invalid_credentials")
    assert_problem(reset(mail_client, old_reset), 400, "link_invalid")
    assert_problem(verify(mail_client, token), 400, "link_invalid")
    events = event_types(mail_client, user_id, access)
    assert {"email_change_requested", "email_changed"} <= set(events)


def test_email_change_with_wrong_password_is_400_and_mails_nothing(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Without the password, no mail goes anywhere and the address stays."""
    created = signup(mail_client)
    old, access = created["user"]["email"], created["access_token"]
    new = unique_email("moved")
    wait_mail(mailbox, old, VERIFY_SUBJECT)

    response = change_email(mail_client, access, new, WRONG_PASSWORD)

    assert_problem(response, 400, "wrong_password")
    assert_no_secret(response, WRONG_PASSWORD)
    assert outbox_rows(mail_client, new) == []
    assert [row.kind for row in outbox_rows(mail_client, old)] == ["verify_email"]
    assert me(mail_client, access).json()["email"] == old


def test_email_change_to_a_taken_address_answers_as_for_a_free_one(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Finding 6: the same 202 as for a free address, so a change request tells nobody
    who has an account; the taken address's owner gets a notice, never a link, and
    the requester's old address hears nothing (there is no change to warn of)."""
    created = signup(mail_client)
    taken = signup(mail_client)["user"]["email"]
    free = unique_email("free")

    to_taken = change_email(mail_client, created["access_token"], taken)
    to_free = change_email(mail_client, created["access_token"], free)

    assert to_taken.status_code == to_free.status_code == 202
    assert to_taken.json() == to_free.json()
    notice = wait_mail(mailbox, taken, "Someone tried to use your email address")
    assert "token=" not in body(notice)
    assert sorted(row.kind for row in outbox_rows(mail_client, taken)) == [
        "email_in_use_notice",
        "verify_email",
    ]
    assert me(mail_client, created["access_token"]).json()["email"] == created["user"]["email"]


def test_email_change_confirmed_after_the_address_was_taken_is_409(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Someone signed up with the new address between the request and the click."""
    created = signup(mail_client)
    old, access = created["user"]["email"], created["access_token"]
    new = unique_email("contested")
    assert change_email(mail_client, access, new).status_code == 202
    token = link_token(wait_mail(mailbox, new, CHANGE_SUBJECT))
    squatter = signup(mail_client, new)

    response = verify(mail_client, token)

    assert_problem(response, 409, "email_taken")
    assert me(mail_client, access).json()["email"] == old
    assert login(mail_client, old).status_code == 200
    assert me(mail_client, squatter["access_token"]).json()["email"] == new
    assert me(mail_client, squatter["access_token"]).json()["id"] != created["user"]["id"]


def test_two_accounts_confirming_the_same_new_address_at_once_one_wins(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Both asked for the same free address; both click together: one 200, one 409,
    never a 500, and the address ends up on exactly one account."""
    first, second = signup(mail_client), signup(mail_client)
    wanted = unique_email("wanted")
    for account in (first, second):
        assert change_email(mail_client, account["access_token"], wanted).status_code == 202
    tokens = [link_token(wait_mail(mailbox, wanted, CHANGE_SUBJECT, n)) for n in (1, 2)]
    start = threading.Barrier(2)

    def confirm(token: str) -> httpx.Response:
        start.wait(timeout=5)
        return verify(mail_client, token)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(confirm, tokens))

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    [loser] = [r for r in responses if r.status_code == 409]
    assert_problem(loser, 409, "email_taken")
    [winner] = [r.json()["id"] for r in responses if r.status_code == 200]
    for account in (first, second):
        now = me(mail_client, account["access_token"]).json()
        expected = wanted if now["id"] == winner else account["user"]["email"]
        assert now["email"] == expected, "the winner has the address, the loser keeps its own"
    assert login(mail_client, wanted).status_code == 200


# -- deletion ------------------------------------------------------------------------


def test_delete_account_removes_it_and_keeps_an_anonymous_audit_trail(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Tokens and password stop working; links and mail go; the audit rows stay with
    their user_id but without the address, and a row records the deletion."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    user_id = uuid.UUID(created["user"]["id"])
    other = login_token(mail_client, email)
    reset_token(mail_client, mailbox, email)  # an outstanding link and more sent mail
    wait_outbox_settled(mail_client, email, 2)

    response = mail_client.post(
        "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=bearer(access)
    )

    assert response.status_code == 204, response.text
    assert response.content == b""
    with Session(mail_client.app.state.container.engine) as session:
        assert session.get(User, user_id) is None
        events = session.exec(select(AuthEvent).where(AuthEvent.user_id == user_id)).all()
        assert {"signup", "login_success", "password_reset_requested", "account_deleted"} <= {
            event.event_type for event in events
        }
        assert all(event.email is None for event in events), [e.email for e in events]
        assert session.exec(select(AuthEvent).where(AuthEvent.email == email)).all() == []
        assert session.exec(select(Link).where(Link.user_id == user_id)).all() == []
        assert session.exec(select(Link).where(Link.email == email)).all() == []
        assert (
            session.exec(select(OutboxMessage).where(OutboxMessage.user_id == user_id)).all() == []
        )
        assert (
            session.exec(select(OutboxMessage).where(OutboxMessage.to_address == email)).all() == []
        )
        assert session.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all() == []
    # After the database checks: a refused login writes a fresh row with the address.
    assert_problem(login(mail_client, email), 401, "invalid_credentials")
    for token in (access, other):
        assert_token_refused(me(mail_client, token), "token_revoked", "token_invalid")


def test_delete_account_with_wrong_password_is_400_and_deletes_nothing(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """A stolen token alone cannot delete the account."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    user_id = uuid.UUID(created["user"]["id"])
    wait_outbox_settled(mail_client, email, 1)

    response = mail_client.post(
        "/auth/me/delete", json={"password": WRONG_PASSWORD}, headers=bearer(access)
    )

    assert_problem(response, 400, "wrong_password")
    assert_no_secret(response, WRONG_PASSWORD)
    assert me(mail_client, access).status_code == 200
    assert login(mail_client, email).status_code == 200
    with Session(mail_client.app.state.container.engine) as session:
        assert session.get(User, user_id) is not None
        assert len(session.exec(select(Link).where(Link.user_id == user_id)).all()) == 1
        assert len(outbox_rows(mail_client, email)) == 1
        signup_event = session.exec(
            select(AuthEvent).where(AuthEvent.user_id == user_id, AuthEvent.event_type == "signup")
        ).one()
        assert signup_event.email == email
        assert (
            session.exec(
                select(AuthEvent).where(
                    AuthEvent.user_id == user_id, AuthEvent.event_type == "account_deleted"
                )
            ).all()
            == []
        )


def test_deleted_account_email_can_sign_up_again(mail_client: TestClient) -> None:
    """The address is free again, and the new account starts with a clean trail."""
    created = signup(mail_client)
    email = created["user"]["email"]
    assert (
        mail_client.post(
            "/auth/me/delete",
            json={"password": STRONG_PASSWORD},
            headers=bearer(created["access_token"]),
        ).status_code
        == 204
    )

    again = signup(mail_client, email)

    assert again["user"]["id"] != created["user"]["id"]
    response = auth_events(mail_client, again["user"]["id"], again["access_token"], limit=100)
    assert [item["event_type"] for item in response.json()["items"]] == ["signup"], (
        "the new account does not inherit the old one's trail"
    )


# -- profile -------------------------------------------------------------------------


def test_patch_me_sets_trims_clears_and_leaves_the_name(client: TestClient) -> None:
    """Each step builds on the last: a field left out stays, null or blank clears."""
    created = signup(client, name="Ada")
    access = created["access_token"]
    steps: list[tuple[dict[str, Any], str | None]] = [
        ({}, "Ada"),
        ({"name": "Grace Hopper"}, "Grace Hopper"),
        ({}, "Grace Hopper"),
        ({"name": "  Grace  "}, "Grace"),
        ({"name": None}, None),
        ({}, None),
        ({"name": "x" * 100}, "x" * 100),
        ({"name": "Zoë Ångström 李"}, "Zoë Ångström 李"),
        ({"name": " \u00a0 "}, None),
    ]
    for patch, expected in steps:
        response = client.patch("/auth/me", json=patch, headers=bearer(access))

        assert response.status_code == 200, (patch, response.text)
        assert_user(response.json(), created["user"]["email"])
        assert response.json()["name"] == expected, patch
        assert me(client, access).json() == {**response.json(), "impersonated_by": None}, patch
    assert response.json()["id"] == created["user"]["id"]
    assert response.json()["email_verified_at"] is None


# -- REQUIRE_VERIFIED_EMAIL ----------------------------------------------------------


@pytest.fixture
def strict_client(make_client: Callable[..., TestClient], mailbox: Mailbox) -> TestClient:
    return make_client(
        require_verified_email=True,
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
    )


SIGNUP_ATTEMPT_SUBJECT = "Someone tried to sign up with your email address"


def test_require_verified_email_signup_gives_no_token(
    strict_client: TestClient, mailbox: Mailbox
) -> None:
    """No token until the address is confirmed; the link is mailed at once."""
    email = unique_email("strict")

    response = strict_client.post(
        "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
    )

    assert response.status_code == 202, response.text
    assert set(response.json()) == {"detail"}
    assert "access_token" not in response.text
    wait_mail(mailbox, email, VERIFY_SUBJECT)


def test_require_verified_email_signup_answers_a_taken_address_like_a_new_one(
    strict_client: TestClient, mailbox: Mailbox
) -> None:
    """No account enumeration at signup: the same 202 for a taken address, and its
    owner (not the asker) is told, with nothing changed on the account."""
    taken = unique_email("taken")
    first = strict_client.post("/auth/signup", json={"email": taken, "password": STRONG_PASSWORD})
    wait_mail(mailbox, taken, VERIFY_SUBJECT)

    again = strict_client.post(
        "/auth/signup", json={"email": taken.upper(), "password": "Other7Lantern!", "name": "X"}
    )
    fresh = strict_client.post(
        "/auth/signup", json={"email": unique_email("fresh"), "password": STRONG_PASSWORD}
    )

    assert first.status_code == again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    assert again.headers.keys() - {"x-request-id"} == fresh.headers.keys() - {"x-request-id"}
    notice = wait_mail(mailbox, taken, SIGNUP_ATTEMPT_SUBJECT)
    assert "already has one" in body(notice)
    assert [m["Subject"] for m in mailbox.to(taken)].count(VERIFY_SUBJECT) == 1
    # The account is as it was: its own password still works once verified, the
    # attempt's does not.
    verify(strict_client, link_token(wait_mail(mailbox, taken, VERIFY_SUBJECT)))
    assert login(strict_client, taken).status_code == 200
    assert_problem(login(strict_client, taken, "Other7Lantern!"), 401, "invalid_credentials")


def test_without_verified_email_required_a_taken_address_is_still_409(
    mail_client: TestClient,
) -> None:
    """The default mode tells: an SPA without mail confirmation needs to say why."""
    email = signup(mail_client)["user"]["email"]
    taken = mail_client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert_problem(taken, 409, "email_taken")


def test_require_verified_email_login_is_403_until_verified(
    strict_client: TestClient, mailbox: Mailbox
) -> None:
    """The 403 comes only after the right password: a guesser learns nothing."""
    email = unique_email("strict")
    assert (
        strict_client.post(
            "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        ).status_code
        == 202
    )

    assert_problem(login(strict_client, email), 403, "email_not_verified")
    assert_problem(login(strict_client, email, WRONG_PASSWORD), 401, "invalid_credentials")
    assert_problem(login(strict_client, unique_email("nobody")), 401, "invalid_credentials")
    token_form = strict_client.post(
        "/auth/token", data={"username": email, "password": STRONG_PASSWORD}
    )
    assert_problem(token_form, 403, "email_not_verified")

    verified = verify(strict_client, link_token(wait_mail(mailbox, email, VERIFY_SUBJECT)))
    assert verified.status_code == 200, verified.text

    response = login(strict_client, email)
    assert response.status_code == 200, response.text
    parse_utc(response.json()["user"]["email_verified_at"])
    assert_problem(login(strict_client, email, WRONG_PASSWORD), 401, "invalid_credentials")


def test_require_verified_email_reset_link_verifies_and_lets_in(
    strict_client: TestClient, mailbox: Mailbox
) -> None:
    """A reset link proves the inbox too: after it, login works."""
    email = unique_email("strict")
    assert (
        strict_client.post(
            "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        ).status_code
        == 202
    )

    assert reset(strict_client, reset_token(strict_client, mailbox, email)).status_code == 204

    assert login(strict_client, email, NEW_PASSWORD).status_code == 200


# -- the user object -----------------------------------------------------------------


def test_email_verified_at_is_in_every_user_object(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Signup, login and /auth/me all tell the SPA whether to nag about the address."""
    created = signup(mail_client)
    email, access = created["user"]["email"], created["access_token"]
    logged_in = login(mail_client, email).json()
    for user in (created["user"], logged_in["user"], me(mail_client, access).json()):
        assert_user(user, email)
        assert user["email_verified_at"] is None

    token = link_token(wait_mail(mailbox, email, VERIFY_SUBJECT))
    assert verify(mail_client, token).status_code == 200

    after = (login(mail_client, email).json()["user"], me(mail_client, access).json())
    for user in after:
        assert_user(user, email)
        parse_utc(user["email_verified_at"])
    assert after[0]["email_verified_at"] == after[1]["email_verified_at"]


def test_account_endpoints_need_a_token(client: TestClient) -> None:
    """Checked before the body: no token, no hint about what the body should be."""
    for method, path in [
        ("PATCH", "/auth/me"),
        ("POST", "/auth/password/change"),
        ("POST", "/auth/email/verify/resend"),
        ("POST", "/auth/email/change"),
        ("POST", "/auth/me/delete"),
    ]:
        assert_problem(client.request(method, path, json={}), 401, "token_missing")
