"""Mail through a database outage and a dead process: each message arrives once,
and none waits out a claim that a live sender could have given back."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from faults.tcp_proxy import TcpProxy
from faults.test_mail_faults import FAST_RETRY, HungSmtpServer, all_sent, wait_rows
from servers import authapi_process
from smtp_sink import Mailbox, _Collector
from support import STRONG_PASSWORD, unique_email


class _CuttingCollector(_Collector):
    """Accepts every message, but when the `cut_at`-th arrives, calls `cut` first:
    the SMTP server has the message and answers 250 while the database is away."""

    def __init__(self, mailbox: Mailbox, cut_at: int, cut: Callable[[], None]) -> None:
        super().__init__(mailbox)
        self._cut_at, self._cut = cut_at, cut
        self._count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self._count += 1
        if self._count == self._cut_at:
            self._cut()
        return await super().handle_DATA(server, session, envelope)


def message_ids(box: Mailbox) -> Counter[str]:
    with box._lock:
        return Counter(str(m["Message-ID"]) for m in box.messages)


def settle_and_count(box: Mailbox, expected: int) -> Counter[str]:
    box.wait_total(expected, timeout=30)
    time.sleep(1.5)  # a copy would arrive now
    return message_ids(box)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_database_blip_right_after_the_smtp_answer_sends_nothing_twice_and_holds_nothing(
    make_client: Callable[..., TestClient], proxied_postgres: tuple[str, TcpProxy]
) -> None:
    """The database goes away just as the SMTP server accepts the 5th of 30 messages
    (and comes back a second later): the sender records that message as sent when it
    can, and gives back the claims it was holding for the others, so all arrive once
    and within seconds of the database's return, not after the 120 s claim."""
    url, proxy = proxied_postgres
    returned: list[float] = []

    def blip() -> None:
        proxy.cut()

        def back() -> None:
            proxy.restore()
            returned.append(time.monotonic())

        threading.Timer(1.0, back).start()

    box = Mailbox()
    controller = Controller(_CuttingCollector(box, 5, blip), hostname="127.0.0.1", port=box.port)
    box._controller = controller
    controller.start()
    try:
        client = make_client(database_url=url, mail_url=box.url, **FAST_RETRY)
        container = client.app.state.container  # type: ignore[attr-defined]
        engine: Engine = container.engine
        container.sender.stop()  # queue all 30 first, so that one batch claims them
        emails = [unique_email(f"blip{n}") for n in range(30)]
        for email in emails:
            created = client.post(
                "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
            )
            assert created.status_code == 201, created.text
        container.sender.start()

        seen = settle_and_count(box, 30)
        rows = wait_rows(engine, lambda rows: len(rows) == 30 and all_sent(rows), timeout=30)
        all_sent_at = time.monotonic()
    finally:
        box.stop()

    assert returned, "the database blip never happened"
    assert len(seen) == 30, seen
    assert set(seen.values()) == {1}, seen
    with box._lock:
        assert Counter(m["To"] for m in box.messages) == Counter(emails)
    assert max(row.attempts for row in rows) <= 2
    held = all_sent_at - returned[0]
    print(f"blip: 30 queued, {sum(seen.values())} delivered, all sent {held:.1f} s after return")
    assert held < 15, f"mail held {held:.1f} s after the database returned"


def test_claims_of_a_killed_process_expire_and_another_sends_each_once(
    tmp_path: Path,
) -> None:
    """A process stuck in an SMTP conversation, holding the claims of queued messages,
    is killed with SIGKILL; a second process sends each message once, the claimed
    ones when their claims expire (MAIL_CLAIM_SECONDS, 20 s here)."""
    hung = HungSmtpServer()
    box = Mailbox().start()
    settings = {
        "MAIL_CLAIM_SECONDS": "20",
        "RATE_LIMIT_AUTH": "1000/minute",
        "MAIL_RATE_LIMIT": "1000/hour",
    }
    emails = [unique_email(f"killed{n}") for n in range(6)]
    engine = create_engine(f"sqlite:///{tmp_path / 'authapi.db'}")
    try:
        with authapi_process(tmp_path, MAIL_URL=f"smtp://127.0.0.1:{hung.port}", **settings) as (
            first_url,
            first,
        ):
            for email in emails:
                created = httpx.post(
                    f"{first_url}/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
                )
                assert created.status_code == 201, created.text
            deadline = time.monotonic() + 15
            claimed = 0
            while time.monotonic() < deadline:  # messages claimed, a conversation hung
                with engine.connect() as connection:
                    claimed = connection.execute(
                        text(
                            "SELECT count(*) FROM mail_outbox "
                            "WHERE status = 'queued' AND claimed_until IS NOT NULL"
                        )
                    ).scalar_one()
                if claimed and hung.connections >= 1:
                    break
                time.sleep(0.1)
            assert claimed, "no message was claimed"
            assert hung.connections >= 1, "the sender never reached the SMTP server"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            killed_at = time.monotonic()

        with authapi_process(tmp_path, MAIL_URL=box.url, **settings):
            seen = settle_and_count(box, len(emails))
            took = time.monotonic() - killed_at
    finally:
        box.stop()
        hung.close()
        engine.dispose()

    assert len(seen) == len(emails), seen
    assert set(seen.values()) == {1}, seen
    with box._lock:
        assert Counter(m["To"] for m in box.messages) == Counter(emails)
    print(
        f"killed sender: {claimed} claimed, all {len(emails)} sent once, the last {took:.1f} s on"
    )
    assert took >= 15, "sent before the dead process's claims could have expired"
