"""Mail delivery when things go wrong: an SMTP outage, a request that fails after it
queued mail, two instances sharing one queue, a server without STARTTLS, and what
the log may show."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from authapi.models import AuthEventType, MailStatus, OutboxMessage
from servers import free_port
from smtp_sink import LINK_TOKEN, Mailbox, link_token
from support import STRONG_PASSWORD, bearer, signup, unique_email

# Well under a second even on a loaded machine; an SMTP timeout would be 15 s.
PROMPT_SECONDS = 1.0
FAST_RETRY = {
    "mail_retry_seconds": 0.2,
    "rate_limit_auth": "1000/minute",
    "mail_rate_limit": "1000/hour",
}


@pytest.fixture
def box() -> Iterator[Mailbox]:
    """A mailbox the test stops and starts; set up before the clients, so that it
    outlives them (their senders may still be at work when the test ends)."""
    mailbox = Mailbox().start()
    yield mailbox
    mailbox.stop()


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def wait_rows(
    engine: Engine, done: Callable[[list[OutboxMessage]], bool], timeout: float = 30
) -> list[OutboxMessage]:
    deadline = time.monotonic() + timeout
    while True:
        rows = outbox_rows(engine)
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            summary = [(r.kind, r.status, r.attempts, r.last_error) for r in rows]
            raise AssertionError(f"outbox not as expected within {timeout} s: {summary}")
        time.sleep(0.05)


def all_sent(rows: list[OutboxMessage]) -> bool:
    return bool(rows) and all(row.status == MailStatus.SENT.value for row in rows)


def timed(call: Callable[[], httpx.Response], expected: int) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    assert response.status_code == expected, response.text
    return elapsed


def assert_delivered_once(box: Mailbox, expected: Counter[str]) -> None:
    """Exactly the expected mails per recipient, even after a pause for late copies."""
    box.wait_total(sum(expected.values()), timeout=30)
    time.sleep(1.5)  # a duplicate (an expired claim, a second sender) would arrive now
    with box._lock:
        messages = list(box.messages)
    assert Counter(m["To"] for m in messages) == expected
    ids = [m["Message-ID"] for m in messages]
    assert len(set(ids)) == len(ids)


# -- SMTP outage ---------------------------------------------------------------------


def test_mail_queued_while_smtp_is_down_arrives_once_when_it_returns(
    box: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(mail_url=box.url, **FAST_RETRY)
    engine: Engine = client.app.state.container.engine
    emails = [unique_email(f"outage{n}") for n in range(10)]

    box.stop()
    durations = [
        timed(
            lambda email=email: client.post(
                "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
            ),
            201,
        )
        for email in emails
    ]
    durations += [
        timed(lambda email=email: client.post("/auth/password/forgot", json={"email": email}), 202)
        for email in emails
    ]
    # The sender meets the outage (and keeps the mail), the requests never do.
    failing = wait_rows(
        engine,
        lambda rows: (
            len(rows) == 20 and all(r.attempts >= 1 and r.last_error is not None for r in rows)
        ),
        timeout=10,
    )
    assert {r.status for r in failing} == {MailStatus.QUEUED.value}
    assert max(durations) < PROMPT_SECONDS, durations
    box.start()  # the same port

    assert_delivered_once(box, Counter(dict.fromkeys(emails, 2)))
    rows = wait_rows(engine, all_sent)
    assert len(rows) == 20
    assert [r.body for r in rows] == [None] * 20
    assert all(r.last_error is None for r in rows)
    print(
        f"outage: 20 queued, {len(box.messages)} delivered, slowest request "
        f"{max(durations):.3f}s, attempts up to {max(r.attempts for r in rows)}"
    )


class HungSmtpServer:
    """Accepts connections and never says a word: an SMTP server that hangs."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self._accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._accepted.append(connection)

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self._listener.close()
        for connection in self._accepted:
            connection.close()


def test_a_hung_smtp_server_does_not_slow_requests(make_client: Callable[..., TestClient]) -> None:
    hung = HungSmtpServer()
    try:
        client = make_client(mail_url=f"smtp://127.0.0.1:{hung.port}", **FAST_RETRY)
        engine: Engine = client.app.state.container.engine
        emails = [unique_email(f"hung{n}") for n in range(5)]
        durations = [
            timed(
                lambda email=email: client.post(
                    "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
                ),
                201,
            )
            for email in emails
        ]
        deadline = time.monotonic() + 5
        while hung.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hung.connections >= 1  # the sender is stuck in a conversation meanwhile
        durations += [
            timed(
                lambda email=email: client.post("/auth/password/forgot", json={"email": email}),
                202,
            )
            for email in emails
        ]
        assert max(durations) < PROMPT_SECONDS, durations
    finally:
        hung.close()  # the sender's conversation fails now, not after its timeout

    rows = wait_rows(engine, lambda rows: len(rows) == 10)
    assert {r.status for r in rows} == {MailStatus.QUEUED.value}
    box = Mailbox(hung.port).start()  # a working server where the hung one was
    try:
        assert_delivered_once(box, Counter(dict.fromkeys(emails, 2)))
        assert all_sent(wait_rows(engine, all_sent))
    finally:
        box.stop()
    print(f"hung server: slowest request {max(durations):.3f}s, 10 queued, 10 delivered")


def test_mail_given_up_after_max_attempts_is_erased_and_never_sent(
    box: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(
        mail_url=box.url,
        mail_max_attempts=2,
        **{**FAST_RETRY, "mail_retry_seconds": 0.1},
    )
    engine: Engine = client.app.state.container.engine
    box.stop()
    access = signup(client, unique_email("doomed"))["access_token"]
    changed = client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": "Fresh9Meadow!"},
        headers=bearer(access),
    )
    # Queues a notice, with its text in the queue; the verification mail still queued
    # goes (a password change voids every link of the account, mailed or not).
    assert changed.status_code == 204

    rows = wait_rows(
        engine,
        lambda rows: len(rows) == 1 and all(r.status == MailStatus.FAILED.value for r in rows),
        timeout=10,
    )
    assert [(r.kind, r.attempts) for r in rows] == [("password_changed", 2)]
    assert [r.body for r in rows] == [None]
    assert all(r.last_error for r in rows)
    box.start()
    time.sleep(2.5)  # the sender polls every second: a retry would arrive now
    assert box.messages == []


# -- a request that fails after queuing ----------------------------------------------------

BOOM = "authapi_test_boom"


def install_failing_audit(engine: Engine, event_type: str) -> None:
    """Make the audit insert of `event_type` fail inside the request's transaction."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION {BOOM}() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER {BOOM} BEFORE INSERT ON auth_events FOR EACH ROW "
                    f"WHEN (NEW.event_type = '{event_type}') EXECUTE FUNCTION {BOOM}()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER {BOOM} BEFORE INSERT ON auth_events "
                    f"WHEN NEW.event_type = '{event_type}' "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )


def remove_failing_audit(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f"DROP TRIGGER IF EXISTS {BOOM} ON auth_events"))
            connection.execute(text(f"DROP FUNCTION IF EXISTS {BOOM}()"))
        else:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {BOOM}"))


def test_a_request_that_fails_after_queuing_mail_sends_nothing(
    box: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(mail_url=box.url, **FAST_RETRY)
    engine: Engine = client.app.state.container.engine
    email, new_email = unique_email("old"), unique_email("new")
    token = signup(client, email)["access_token"]
    box.wait_for(email)  # the verification mail
    wait_rows(engine, all_sent)
    queued_before = len(outbox_rows(engine))

    def change() -> httpx.Response:
        return client.post(
            "/auth/email/change",
            json={"new_email": new_email, "password": STRONG_PASSWORD},
            headers=bearer(token),
        )

    install_failing_audit(engine, AuthEventType.EMAIL_CHANGE_REQUESTED.value)
    try:
        failed = change()
        assert failed.status_code in (500, 503), failed.text
        assert failed.headers["content-type"] == "application/problem+json"
        assert "boom" not in failed.text
        print(f"failed after queuing: {failed.status_code} {failed.json()['code']}")
        time.sleep(2.5)  # the sender polls every second: anything committed would go now
        assert box.to(new_email) == []
        assert len(box.to(email)) == 1
        assert len(outbox_rows(engine)) == queued_before
        assert client.get("/auth/me", headers=bearer(token)).json()["email"] == email
    finally:
        remove_failing_audit(engine)

    # Control: without the fault, the same request queues and sends both mails.
    assert change().status_code == 202
    box.wait_for(new_email)
    box.wait_for(email, 2)


# -- two instances, one queue ------------------------------------------------------------


def test_two_instances_never_send_a_message_twice(
    box: Mailbox, make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authapi.mailer")
    first = make_client(mail_url=box.url, **FAST_RETRY)
    second = make_client(mail_url=box.url, **FAST_RETRY)
    engine: Engine = first.app.state.container.engine
    emails = [unique_email(f"pair{n}") for n in range(40)]

    box.stop()
    durations = [
        timed(
            lambda client=client, email=email: client.post(
                "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
            ),
            201,
        )
        for client, email in zip([first, second] * 20, emails, strict=True)
    ]
    wait_rows(engine, lambda rows: len(rows) == 40 and all(r.attempts >= 1 for r in rows))
    assert max(durations) < PROMPT_SECONDS, durations
    box.start()

    assert_delivered_once(box, Counter(dict.fromkeys(emails, 1)))
    rows = wait_rows(engine, all_sent)
    assert len(rows) == 40
    assert [r.body for r in rows] == [None] * 40
    senders = Counter(
        record.thread for record in caplog.records if record.getMessage().endswith("delivered")
    )
    assert sum(senders.values()) == 40
    print(f"two instances: 40 queued, {len(box.messages)} delivered, per sender {senders}")


# -- STARTTLS required ---------------------------------------------------------------------


def test_starttls_url_never_falls_back_to_clear_text(
    box: Mailbox, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(mail_url=f"smtp+starttls://127.0.0.1:{box.port}", **FAST_RETRY)
    engine: Engine = client.app.state.container.engine
    signup(client, unique_email("tls"))

    rows = wait_rows(engine, lambda rows: len(rows) == 1 and rows[0].attempts >= 2, timeout=10)

    assert box.messages == []
    (row,) = rows
    assert row.status == MailStatus.QUEUED.value
    assert row.last_error is not None
    assert "STARTTLS" in row.last_error
    print(f"starttls: attempts {row.attempts}, last_error {row.last_error!r}")
    time.sleep(0.5)
    assert box.messages == []


# -- the log ---------------------------------------------------------------------------------


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts: list[str] = []
    for record in records:
        if record.name.startswith("mail."):
            continue  # aiosmtpd, the test's own SMTP server, logs what it receives
        texts.append(record.getMessage())
        texts.append(formatter.format(record))
        texts.append(repr(vars(record)))
    return texts


def test_console_mail_shows_the_link_in_the_log(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = make_client(rate_limit_auth="1000/minute")  # MAIL_URL: console:// by default
    email = unique_email("console")
    signup(client, email)

    deadline = time.monotonic() + 10
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        found = [
            record.getMessage()
            for record in list(caplog.records)
            if record.name == "authapi.mailer" and email in record.getMessage()
        ]
        time.sleep(0.05)
    assert found, "no console mail in the log"
    match = LINK_TOKEN.search(found[0])
    assert match is not None, found[0]
    assert "verify-email?token=" in found[0]
    # The logged link is the real one.
    verified = client.post("/auth/email/verify", json={"token": match.group(1)})
    assert verified.status_code == 200, verified.text


def test_smtp_mail_keeps_tokens_out_of_the_log(
    box: Mailbox, make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(mail_url=box.url, **FAST_RETRY)
    email, new_email = unique_email("quiet"), unique_email("quieter")
    access = signup(client, email)["access_token"]
    verify = link_token(box.wait_for(email)[-1])
    assert client.post("/auth/email/verify", json={"token": verify}).status_code == 200
    assert client.post("/auth/password/forgot", json={"email": email}).status_code == 202
    reset = link_token(box.wait_for(email, 2)[-1])
    new_password = "Fresh9Meadow!"
    response = client.post(
        "/auth/password/reset", json={"token": reset, "new_password": new_password}
    )
    assert response.status_code == 204
    access = client.post("/auth/login", json={"email": email, "password": new_password}).json()[
        "access_token"
    ]
    response = client.post(
        "/auth/email/change",
        json={"new_email": new_email, "password": new_password},
        headers=bearer(access),
    )
    assert response.status_code == 202
    change = link_token(box.wait_for(new_email)[-1])
    assert client.post("/auth/email/verify", json={"token": change}).status_code == 200
    wait_rows(client.app.state.container.engine, all_sent)

    tokens = [verify, reset, change]
    texts = record_texts(caplog.records)
    assert any(re.search(r"mail \S+ \(\w+\) delivered", t) for t in texts)  # we did capture
    leaks = [(token, t) for token in tokens for t in texts if token in t]
    assert leaks == []
