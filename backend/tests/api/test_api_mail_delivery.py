"""How mail leaves: every message over real SMTP with a plain-text part and our
sender, a permanent refusal is not retried, and a link mail holds a working link."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from authapi.models import MailStatus, OutboxMessage
from smtp_sink import UNKNOWN_RECIPIENT_PREFIX, Mailbox, body
from support import STRONG_PASSWORD, bearer, signup, unique_email


def outbox_rows(client: TestClient, address: str) -> list[OutboxMessage]:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.to_address == address)).all()
        )


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_messages_are_plain_text_from_mail_from(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    client = make_client(mail_url=mailbox.url, mail_from="Example Auth <auth@example.org>")
    email = unique_email()
    signup(client, email)

    [message] = mailbox.wait_for(email)

    assert message["From"] == "Example Auth <auth@example.org>"
    assert message["Subject"] == "Confirm your email address"
    assert message["Message-ID"].endswith("@example.org>")
    assert "/#/verify-email?token=" in body(message)
    wait_until(lambda: outbox_rows(client, email)[0].status == MailStatus.SENT)
    [row] = outbox_rows(client, email)
    assert row.body is None
    assert row.attempts == 1


def test_a_recipient_refused_for_good_is_not_retried(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    client = make_client(
        mail_url=mailbox.url, mail_retry_seconds=0.1, rate_limit_auth="1000/minute"
    )
    token = signup(client)["access_token"]
    refused = f"{UNKNOWN_RECIPIENT_PREFIX}{unique_email()}"

    response = client.post(
        "/auth/email/change",
        headers=bearer(token),
        json={"new_email": refused, "password": STRONG_PASSWORD},
    )

    assert response.status_code == 202
    wait_until(lambda: outbox_rows(client, refused)[0].status == MailStatus.FAILED)
    time.sleep(0.5)  # several retry delays: a transient failure would have been retried
    [row] = outbox_rows(client, refused)
    assert row.attempts == 1
    assert row.body is None
    assert row.last_error is not None
    assert "550" in row.last_error
    assert mailbox.refused == [refused]


def test_a_message_id_is_stable_for_a_notice_and_new_for_each_minted_link(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    """A copy of a notice (sent again after a process died before recording it) has
    the first one's Message-ID, so a receiving server may drop it; a link mail
    composed again carries a new link that voids the first, so it must not look
    like a copy."""
    client = make_client(mail_url=mailbox.url, mail_from="authapi <auth@example.org>")
    container = client.app.state.container  # type: ignore[attr-defined]
    container.sender.stop()
    email = unique_email()
    token = signup(client, email)["access_token"]
    changed = client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD + "x"},
        headers=bearer(token),
    )
    assert changed.status_code == 204, changed.text  # (the queued verify mail goes with it)
    forgot = client.post("/auth/password/forgot", json={"email": email})
    assert forgot.status_code == 202, forgot.text
    rows = {row.kind: row for row in outbox_rows(client, email)}
    notice, link = rows["password_changed"], rows["password_reset"]

    def message_id(row: OutboxMessage) -> str:
        with Session(container.engine) as session:
            mail = container.mail.compose(session, row)
            session.commit()
        assert mail is not None
        return str(mail["Message-ID"])

    assert message_id(notice) == message_id(notice) == f"<{notice.id.hex}@example.org>"
    first, second = message_id(link), message_id(link)
    assert first != second
    assert first.startswith(f"<{link.id.hex}.")
    assert second.startswith(f"<{link.id.hex}.")
