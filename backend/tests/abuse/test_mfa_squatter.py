"""A squatter's second factor must not lock the owner of the address out.

Someone signs up with another person's address (never verified) and turns TOTP on.
The owner's password reset proves the inbox; without more, every login would then ask
for the squatter's code. So a reset by link takes off a factor enrolled while the
address was unverified (audited `mfa_reset`), and keeps one enrolled on a proven
address. What counts is how the factor was enrolled, not when the address was last
verified: an email change re-verifies it, and a factor from before must stay.

End to end over HTTP with real mail (SMTP to `mailbox`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from test_link_abuse import NEW_PASSWORD, request_reset, reset, verify_token, wait_mail

from api.api_helpers import login
from api.test_api_mfa import code, enrol, me, sql
from smtp_sink import Mailbox, body, link_token
from support import STRONG_PASSWORD, bearer, signup, unique_email

CHANGE_SUBJECT = "Confirm your new email address"
REASON = "enrolled_before_address_verified"


def verify_address(client: TestClient, mailbox: Mailbox, email: str) -> None:
    """Follow the signup's verification link, as the owner of the inbox would."""
    response = client.post("/auth/email/verify", json={"token": verify_token(mailbox, email)})
    assert response.status_code == 200, response.text
    assert response.json()["email_verified_at"] is not None


def reset_by_link(client: TestClient, mailbox: Mailbox, email: str) -> None:
    """/auth/password/forgot, then the mailed link: what the owner of the inbox can do."""
    response = reset(client, request_reset(client, mailbox, email))
    assert response.status_code == 204, response.text


def tokens_without_a_code(client: TestClient, email: str) -> str:
    """The new password alone logs in: tokens, no `mfa_required`; the access token."""
    response = login(client, email, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "mfa_required" not in body, body
    assert body["refresh_token"]
    token: str = body["access_token"]
    return token


def still_asks_for_the_code(client: TestClient, email: str, secret: str) -> None:
    """The new password gets the `mfa_required` step, which the enrolled app passes."""
    response = login(client, email, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is True
    assert "access_token" not in response.json()
    verify = client.post(
        "/auth/mfa/verify",
        json={"mfa_token": response.json()["mfa_token"], "code": code(secret, 1)},
    )
    assert verify.status_code == 200, verify.text


def enrol_with(client: TestClient, token: str, password: str) -> tuple[str, list[str]]:
    """`enrol` for an account whose password is no longer STRONG_PASSWORD."""
    setup = client.post("/auth/mfa/totp/setup", json={"password": password}, headers=bearer(token))
    assert setup.status_code == 200, setup.text
    secret: str = setup.json()["secret"]
    confirm = client.post(
        "/auth/mfa/totp/confirm", json={"code": code(secret)}, headers=bearer(token)
    )
    assert confirm.status_code == 200, confirm.text
    return secret, confirm.json()["recovery_codes"]


def events(client: TestClient, token: str) -> list[dict[str, Any]]:
    user_id = me(client, token)["id"]
    response = client.get(f"/api/{user_id}/auth-events", headers=bearer(token))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def mfa_resets(client: TestClient, token: str) -> list[dict[str, Any]]:
    return [item for item in events(client, token) if item["event_type"] == "mfa_reset"]


def stored_factor(client: TestClient, email: str) -> tuple[bool, bool, int]:
    """(mfa_enabled, a secret stored, recovery codes stored), read from the database."""
    ((enabled, has_secret, codes),) = sql(
        client,
        "SELECT mfa_enabled, totp_secret IS NOT NULL, "
        "(SELECT count(*) FROM recovery_codes r WHERE r.user_id = users.id) "
        "FROM users WHERE email = :email",
        email=email,
    )
    return bool(enabled), bool(has_secret), int(codes)


# -- the squatter ------------------------------------------------------------------


def test_the_owners_reset_takes_off_the_factor_a_squatter_enrolled(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    victim = unique_email("victim")
    squatter_token = signup(mail_client, victim)["access_token"]  # never verified
    enrol(mail_client, squatter_token)
    assert stored_factor(mail_client, victim) == (True, True, 10)
    assert login(mail_client, victim).json()["mfa_required"] is True

    reset_by_link(mail_client, mailbox, victim)  # the owner, from their inbox

    token = tokens_without_a_code(mail_client, victim)
    user = me(mail_client, token)
    assert user["mfa_enabled"] is False
    (notice,) = wait_mail(mailbox, victim, "Your password was changed")
    assert "second factor" in body(notice), "the owner is told why no code is asked"
    assert user["email_verified_at"] is not None
    assert stored_factor(mail_client, victim) == (False, False, 0)
    (row,) = mfa_resets(mail_client, token)
    assert (row["reason"], row["email"]) == (REASON, victim)
    types = [item["event_type"] for item in events(mail_client, token)]
    assert types.index("mfa_reset") > types.index("password_reset")  # newest first
    # Nothing of the squatter's works any more: their password, session and codes.
    assert login(mail_client, victim, STRONG_PASSWORD).status_code == 401
    assert mail_client.get("/auth/me", headers=bearer(squatter_token)).status_code == 401
    # The owner may enrol a factor of their own, which a later reset keeps.
    own_secret, _codes = enrol_with(mail_client, token, NEW_PASSWORD)
    reset_by_link(mail_client, mailbox, victim)
    still_asks_for_the_code(mail_client, victim, own_secret)


# -- a factor enrolled on a proven address stays ------------------------------------


def test_a_reset_keeps_a_factor_enrolled_on_a_verified_address(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    email = unique_email("owner")
    token = signup(mail_client, email)["access_token"]
    verify_address(mail_client, mailbox, email)
    secret, _codes = enrol(mail_client, token)
    assert stored_factor(mail_client, email) == (True, True, 10)

    reset_by_link(mail_client, mailbox, email)

    still_asks_for_the_code(mail_client, email, secret)
    assert stored_factor(mail_client, email) == (True, True, 10)
    resets = "SELECT count(*) FROM auth_events WHERE event_type = 'mfa_reset' AND email = :email"
    assert sql(mail_client, resets, email=email) == [(0,)]


def test_a_factor_enrolled_before_the_signup_link_was_used_still_goes_at_a_reset(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The verification link proves the inbox, not who enrolled the factor: the owner
    may have clicked the mail a squatter's signup sent them."""
    email = unique_email("clicked")
    token = signup(mail_client, email)["access_token"]
    enrol(mail_client, token)
    verify_address(mail_client, mailbox, email)

    reset_by_link(mail_client, mailbox, email)

    new_token = tokens_without_a_code(mail_client, email)
    assert me(mail_client, new_token)["mfa_enabled"] is False
    (row,) = mfa_resets(mail_client, new_token)
    assert row["reason"] == REASON


def test_turning_the_factor_off_forgets_how_it_was_enrolled(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """Off while unverified, on again once verified: that enrolment is trusted."""
    email = unique_email("again")
    token = signup(mail_client, email)["access_token"]
    first, _codes = enrol(mail_client, token)
    disable = mail_client.post(
        "/auth/mfa/totp/disable",
        json={"password": STRONG_PASSWORD, "code": code(first, 1)},
        headers=bearer(token),
    )
    assert disable.status_code == 204, disable.text
    assert stored_factor(mail_client, email) == (False, False, 0)
    verify_address(mail_client, mailbox, email)
    second, _codes = enrol(mail_client, token)

    reset_by_link(mail_client, mailbox, email)

    still_asks_for_the_code(mail_client, email, second)


def test_a_factor_enrolled_on_a_verified_address_survives_an_email_change_and_a_reset(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """The change sets `email_verified_at` anew, after the enrolment: a comparison of
    times would take this factor for a squatter's."""
    email, new_email = unique_email("before"), unique_email("after")
    token = signup(mail_client, email)["access_token"]
    verify_address(mail_client, mailbox, email)
    secret, _codes = enrol(mail_client, token)
    change = mail_client.post(
        "/auth/email/change",
        json={"new_email": new_email, "password": STRONG_PASSWORD},
        headers=bearer(token),
    )
    assert change.status_code == 202, change.text
    link = link_token(wait_mail(mailbox, new_email, CHANGE_SUBJECT)[-1])
    changed = mail_client.post("/auth/email/verify", json={"token": link})
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == new_email

    reset_by_link(mail_client, mailbox, new_email)

    still_asks_for_the_code(mail_client, new_email, secret)
    assert stored_factor(mail_client, new_email) == (True, True, 10)
