"""One account per address however its domain is spelt: the punycode form
(`xn--exmple-cua.com`) and the Unicode form (`exämple.com`) of one domain are one
address at signup, login, the token endpoint and forgot-password alike (finding 12)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import assert_problem, login
from authapi.schemas.common import normalize_email, normalize_login_email
from smtp_sink import Mailbox
from support import STRONG_PASSWORD, signup

PUNYCODE = "xn--exmple-cua.com"
UNICODE = "exämple.com"
RESET_SUBJECT = "Reset your password"


def addresses() -> tuple[str, str]:
    """One fresh local part at the domain's two spellings: (punycode, Unicode)."""
    local = f"idn-{uuid.uuid4().hex[:10]}"
    return f"{local}@{PUNYCODE}", f"{local}@{UNICODE}"


def resets(box: Mailbox, address: str, count: int = 0, timeout: float = 15) -> int:
    """How many reset mails `address` got, once at least `count` (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = len([m for m in box.to(address) if m["Subject"] == RESET_SUBJECT])
        if found >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@pytest.mark.parametrize(
    "spelling",
    [
        "Ada@XN--EXMPLE-CUA.COM",
        "ada@xn--exmple-cua.com",
        "  ADA@EXÄMPLE.COM ",
        "ada@exa\u0308mple.com",  # `a` + combining diaeresis: NFC makes it `ä`
    ],
)
def test_every_spelling_of_an_address_has_one_canonical_form(spelling: str) -> None:
    assert normalize_email(spelling) == "ada@exämple.com"
    assert normalize_login_email(spelling) == "ada@exämple.com"


@pytest.mark.parametrize("signed_up", [0, 1], ids=["signup-punycode", "signup-unicode"])
def test_login_finds_the_account_under_either_spelling_of_its_domain(
    roomy_client: TestClient, signed_up: int
) -> None:
    spellings = addresses()
    created = signup(roomy_client, spellings[signed_up])
    assert created["user"]["email"] == spellings[1]  # stored as Unicode

    for spelling in spellings:
        response = login(roomy_client, spelling.upper())
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["user"]["id"] == created["user"]["id"]

        form = roomy_client.post(
            "/auth/token", data={"username": spelling, "password": STRONG_PASSWORD}
        )
        assert form.status_code == 200, (spelling, form.text)

        again = roomy_client.post(
            "/auth/signup", json={"email": spelling, "password": STRONG_PASSWORD}
        )
        assert_problem(again, 409, "email_taken")


def test_forgot_password_mails_the_account_under_either_spelling(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    punycode, unicode = addresses()
    signup(mail_client, punycode)

    for count, spelling in enumerate([punycode, unicode], start=1):
        response = mail_client.post("/auth/password/forgot", json={"email": spelling})
        assert response.status_code == 202, response.text
        assert resets(mailbox, unicode, count) == count


def test_login_still_answers_401_for_an_address_signup_would_refuse(
    make_client: Callable[..., TestClient],
) -> None:
    """An invalid A-label is not an address, yet login does not judge it: the same
    401 as any unknown email, never a 422 that tells valid from invalid."""
    client = make_client(rate_limit_auth="1000/minute")
    for typed in ["idn@xn--zz.com", "not an email", "a@b"]:
        assert_problem(login(client, typed), 401, "invalid_credentials")
    assert_problem(login(client, "idn@exämple.com\x00"), 422, "validation_error")


def test_no_mail_goes_to_the_other_spelling(mail_client: TestClient, mailbox: Mailbox) -> None:
    """The account's one stored form is the address mail goes to."""
    punycode, unicode = addresses()
    signup(mail_client, unicode)
    response = mail_client.post("/auth/password/forgot", json={"email": punycode})
    assert response.status_code == 202, response.text
    assert resets(mailbox, unicode, 1) == 1
    assert resets(mailbox, punycode) == 0
