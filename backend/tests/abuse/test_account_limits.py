"""Limits on what a logged-in caller or a stranger can make the service do for them:
email change requests (finding 6), password confirmations (finding 10), and the mail
limit that a stranger must not be able to spend for an address's owner (finding 11).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.api_helpers import assert_problem
from authapi.models import OutboxMessage
from smtp_sink import Mailbox
from support import STRONG_PASSWORD, bearer, signup, unique_email


def seen_from(client: TestClient, ip: str) -> TestClient:
    """The same app (its lifespan is `client`'s) as a client at `ip` sees it."""
    return TestClient(client.app, client=(ip, 4000), raise_server_exceptions=False)


def change_email(client: TestClient, token: str, new_email: str) -> httpx.Response:
    return client.post(
        "/auth/email/change",
        json={"new_email": new_email, "password": STRONG_PASSWORD},
        headers=bearer(token),
    )


def totp_setup(client: TestClient, token: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    return client.post("/auth/mfa/totp/setup", json={"password": password}, headers=bearer(token))


def queued(client: TestClient, address: str, kind: str) -> int:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(OutboxMessage).where(
                col(OutboxMessage.to_address) == address, col(OutboxMessage.kind) == kind
            )
        ).all()
    return len(rows)


# -- finding 6: email change ----------------------------------------------------------------


def test_email_change_requests_are_limited_per_account(
    make_client: Callable[..., TestClient],
) -> None:
    """Each request mails someone: an account cannot send mail at its own pace."""
    client = make_client(rate_limit_email_change="2/hour", rate_limit_auth="1000/minute")
    token = signup(client)["access_token"]

    statuses = [change_email(client, token, unique_email("new")).status_code for _ in range(3)]

    assert statuses == [202, 202, 429]
    refused = change_email(client, token, unique_email("new"))
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) > 0
    other = signup(client)["access_token"]
    assert change_email(client, other, unique_email("new")).status_code == 202


def test_email_change_requests_are_limited_per_client_ip(
    make_client: Callable[..., TestClient],
) -> None:
    """Many accounts of one attacker, one address: the per-IP limit (RATE_LIMIT_AUTH)."""
    base = make_client(rate_limit_auth="3/minute")
    tokens = [signup(seen_from(base, f"192.0.2.{n}"))["access_token"] for n in range(4)]
    attacker = seen_from(base, "198.51.100.9")

    statuses = [change_email(attacker, token, unique_email("new")).status_code for token in tokens]

    assert statuses == [202, 202, 202, 429]
    assert_problem(change_email(attacker, tokens[0], unique_email("x")), 429, "rate_limited")


def test_probing_addresses_by_email_change_tells_nothing(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    """A taken and a free address get the same answer and the same mail count."""
    client = make_client(mail_url=mailbox.url, rate_limit_auth="1000/minute")
    token = signup(client)["access_token"]
    taken = signup(client)["user"]["email"]
    free = unique_email("free")

    answers = [change_email(client, token, address) for address in (taken, free)]

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert queued(client, taken, "email_in_use_notice") == 1
    assert queued(client, taken, "change_email") == 0
    assert queued(client, free, "change_email") == 1


# -- finding 10: password confirmations -----------------------------------------------------


def test_password_confirmations_are_limited_per_account_even_when_right(
    make_client: Callable[..., TestClient],
) -> None:
    """A right password in a loop kept the hasher from everyone else's logins."""
    client = make_client(rate_limit_password_confirm="3/minute")
    token = signup(client)["access_token"]

    statuses = [totp_setup(client, token).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert_problem(totp_setup(client, token), 429, "rate_limited")
    # Another account from another address is not held back by this one.
    elsewhere = seen_from(client, "192.0.2.200")
    assert totp_setup(elsewhere, signup(elsewhere)["access_token"]).status_code == 200


def test_password_confirmations_are_limited_per_client_ip(
    make_client: Callable[..., TestClient],
) -> None:
    base = make_client(rate_limit_password_confirm="3/minute")
    tokens = [signup(seen_from(base, f"192.0.2.{n}"))["access_token"] for n in range(4)]
    looper = seen_from(base, "198.51.100.10")

    statuses = [totp_setup(looper, token).status_code for token in tokens]

    assert statuses == [200, 200, 200, 429]
    assert totp_setup(seen_from(base, "198.51.100.11"), tokens[3]).status_code == 200


def test_every_password_confirming_endpoint_is_limited(
    make_client: Callable[..., TestClient],
) -> None:
    """One count for all of them: switching endpoints does not buy more checks."""
    client = make_client(rate_limit_password_confirm="4/minute", rate_limit_auth="1000/minute")
    token = signup(client)["access_token"]
    calls = [
        lambda: totp_setup(client, token),
        lambda: client.post(
            "/auth/password/change",
            json={"current_password": "Wrong-pass-1", "new_password": "Fresh9Meadow!"},
            headers=bearer(token),
        ),
        lambda: change_email(client, token, unique_email("new")),
        lambda: client.post(
            "/auth/me/delete", json={"password": "Wrong-pass-1"}, headers=bearer(token)
        ),
        lambda: client.post(
            "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=bearer(token)
        ),
    ]

    statuses = [call().status_code for call in calls]

    assert statuses == [200, 400, 202, 400, 429]
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200


# -- finding 11: a stranger cannot spend the owner's mail -----------------------------------


def test_a_stranger_spending_an_addresss_mail_limit_does_not_silence_its_owner(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    base = make_client(
        mail_url=mailbox.url,
        mail_rate_limit="2/hour",
        mail_address_limit="4/hour",
        rate_limit_auth="1000/minute",
    )
    owner = seen_from(base, "192.0.2.20")
    email = signup(owner)["user"]["email"]  # the verification mail: one of the owner's two
    stranger = seen_from(base, "198.51.100.20")
    for _ in range(3):
        assert stranger.post("/auth/password/forgot", json={"email": email}).status_code == 202
    assert queued(base, email, "password_reset") == 2

    assert owner.post("/auth/password/forgot", json={"email": email}).status_code == 202

    assert queued(base, email, "password_reset") == 3
    # The ceiling for the address, whoever asks: four mails in all, then nothing.
    third = seen_from(base, "203.0.113.20")
    for _ in range(2):
        assert third.post("/auth/password/forgot", json={"email": email}).status_code == 202
    assert queued(base, email, "password_reset") + queued(base, email, "verify_email") == 4
