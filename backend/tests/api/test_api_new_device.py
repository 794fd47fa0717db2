"""The new-device notice over HTTP, on SQLite and PostgreSQL, with the real SMTP
sink: a sign-in from a user-agent family and IP network the account has not used
mails its owner once; a known device, the account's first one, or the setting off
mails nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from api.test_api_mfa import enrol
from authapi.models import KnownDevice
from authapi.services.devices import family, network
from smtp_sink import Mailbox, body
from support import STRONG_PASSWORD, unique_email, wait_outbox_settled

NOTICE = "A new sign-in to your account"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
FIREFOX_LINUX_NEWER = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def device(client: TestClient, ip: str, user_agent: str) -> TestClient:
    """The same app, reached from another address and browser."""
    other = TestClient(client.app, client=(ip, 40000), raise_server_exceptions=False)
    other.headers["User-Agent"] = user_agent
    return other


def notices(mailbox: Mailbox, client: TestClient, email: str) -> list[str]:
    wait_outbox_settled(client.app.state.container.engine)  # type: ignore[attr-defined]
    time.sleep(0.05)  # delivered by the SMTP sink after the sender marked it sent
    return [body(m) for m in mailbox.to(email) if m["Subject"] == NOTICE]


def sign_up_and_in(client: TestClient) -> str:
    email = unique_email("device")
    created = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert created.status_code == 201, created.text
    return email


def log_in(client: TestClient, email: str) -> None:
    response = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text


@pytest.fixture
def app(mailbox: Mailbox, make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client(
        mail_url=mailbox.url,
        rate_limit_auth="1000/minute",
        mail_rate_limit="1000/hour",
        mail_address_limit="1000/hour",
    )
    client.headers["User-Agent"] = FIREFOX_LINUX
    return device(client, "192.0.2.10", FIREFOX_LINUX)


def test_a_sign_in_from_a_new_device_mails_the_owner_once(
    app: TestClient, mailbox: Mailbox
) -> None:
    email = sign_up_and_in(app)
    assert notices(mailbox, app, email) == []  # the first device is only remembered
    phone = device(app, "203.0.113.7", SAFARI_IPHONE)

    log_in(phone, email)
    log_in(phone, email)  # known now

    (text,) = notices(mailbox, app, email)
    assert "Safari on iOS" in text
    assert "203.0.113.0/24" in text
    assert STRONG_PASSWORD not in text


def test_a_known_device_mails_nothing_across_updates_and_addresses_of_its_network(
    app: TestClient, mailbox: Mailbox
) -> None:
    email = sign_up_and_in(app)

    log_in(app, email)
    log_in(device(app, "192.0.2.200", FIREFOX_LINUX_NEWER), email)  # same /24, newer Firefox

    assert notices(mailbox, app, email) == []


@pytest.mark.parametrize(
    ("ip", "user_agent"),
    [("198.51.100.1", FIREFOX_LINUX), ("192.0.2.10", SAFARI_IPHONE)],
    ids=["another network", "another browser"],
)
def test_another_network_or_another_browser_is_a_new_device(
    app: TestClient, mailbox: Mailbox, ip: str, user_agent: str
) -> None:
    email = sign_up_and_in(app)

    log_in(device(app, ip, user_agent), email)

    assert len(notices(mailbox, app, email)) == 1


def test_a_device_not_used_for_90_days_is_new_again(app: TestClient, mailbox: Mailbox) -> None:
    email = sign_up_and_in(app)
    log_in(device(app, "203.0.113.7", SAFARI_IPHONE), email)
    with Session(app.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(
            update(KnownDevice)
            .where(KnownDevice.family == "Safari on iOS")  # type: ignore[arg-type]
            .values(last_seen_at=datetime.now(UTC) - timedelta(days=91))
        )
        session.commit()

    log_in(device(app, "203.0.113.7", SAFARI_IPHONE), email)

    assert len(notices(mailbox, app, email)) == 2


def test_no_notice_when_notify_new_device_is_off(
    mailbox: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(
        mail_url=mailbox.url, rate_limit_auth="1000/minute", notify_new_device=False
    )
    email = sign_up_and_in(device(client, "192.0.2.10", FIREFOX_LINUX))

    log_in(device(client, "203.0.113.7", SAFARI_IPHONE), email)

    assert notices(mailbox, client, email) == []


def test_the_second_step_of_a_login_is_where_the_device_counts(
    app: TestClient, mailbox: Mailbox
) -> None:
    """Every way of signing in ends in one place: a login with the second factor
    mails after the factor, not after the password alone."""
    email = sign_up_and_in(app)
    token = app.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
    _secret, recovery_codes = enrol(app, token["access_token"])
    phone = device(app, "203.0.113.7", SAFARI_IPHONE)

    challenge = phone.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert challenge.json()["mfa_required"] is True
    assert notices(mailbox, app, email) == []
    verified = phone.post(
        "/auth/mfa/verify",
        json={"mfa_token": challenge.json()["mfa_token"], "code": recovery_codes[0]},
    )

    assert verified.status_code == 200, verified.text
    assert len(notices(mailbox, app, email)) == 1


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "curl"),
        (None, "unknown"),
        ("", "unknown"),
        ("\x00\x01", "unknown"),
    ],
)
def test_the_family_of_a_user_agent(user_agent: str | None, expected: str) -> None:
    assert family(user_agent) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("192.0.2.77", "192.0.2.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("testclient", "testclient"),
        (None, "unknown"),
        ("x" * 100, "x" * 64),
    ],
)
def test_the_network_of_an_address(ip: str | None, expected: str) -> None:
    assert network(ip) == expected


def test_deleting_the_account_forgets_its_devices(app: TestClient) -> None:
    email = sign_up_and_in(app)
    token = app.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
    user_id = uuid.UUID(token["user"]["id"])
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    def devices() -> int:
        with Session(app.app.state.container.engine) as session:  # type: ignore[attr-defined]
            return len(
                session.exec(select(KnownDevice).where(KnownDevice.user_id == user_id)).all()
            )

    assert devices() == 1
    deleted = app.post("/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=headers)

    assert deleted.status_code == 204
    assert devices() == 0
