"""A flood cannot grow the audit trail without bound: repeated anonymous rejections of
one kind from one IP (bad tokens, unknown refresh tokens, 429s) are counted in one row
per type, reason, IP, email and minute. What a real user did stays a row of its own."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from jose import jwt
from sqlmodel import Session, select

from api.api_helpers import TEST_CLIENT_IP
from authapi.models import AuthEvent, AuthEventType
from authapi.services import audit
from authapi.services.audit import ClientInfo
from support import STRONG_PASSWORD, TEST_SECRET, bearer, signup, unique_email

FLOOD_IP = "198.51.100.77"
OTHER_IP = "198.51.100.78"
Key = tuple[str, str | None, str | None]  # event type, reason, email


@contextmanager
def seen_from(base: TestClient, ip: str) -> Iterator[TestClient]:
    """The same app seen from `ip` (the lifespan belongs to `base`)."""
    peer = TestClient(base.app, client=(ip, 4000), raise_server_exceptions=False)
    try:
        yield peer
    finally:
        peer.close()


class Window:
    """The minutes a run of requests spans: a flood key gets at most one row each."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)

    def minutes(self) -> int:
        first = self.start.replace(second=0, microsecond=0)
        last = datetime.now(UTC).replace(second=0, microsecond=0)
        return int((last - first) / timedelta(minutes=1)) + 1


def rows_from(client: TestClient, ip: str) -> list[AuthEvent]:
    with Session(client.app.state.container.engine) as session:
        return list(session.exec(select(AuthEvent).where(AuthEvent.ip_address == ip)).all())


def by_key(rows: list[AuthEvent]) -> dict[Key, list[AuthEvent]]:
    grouped: dict[Key, list[AuthEvent]] = defaultdict(list)
    for row in rows:
        grouped[(row.event_type, row.reason, row.email)].append(row)
    return dict(grouped)


def assert_counted(rows: list[AuthEvent], sent: int, window: Window) -> None:
    """`sent` requests in flood rows of one key: a row per minute at most, every
    request counted once, each row in the minute of its first request."""
    assert 1 <= len(rows) <= window.minutes(), [(row.bucket, row.count) for row in rows]
    assert sum(row.count for row in rows) == sent
    assert len({row.bucket for row in rows}) == len(rows)
    for row in rows:
        assert row.user_id is None
        assert row.bucket == row.created_at.replace(second=0, microsecond=0)


def expired(token: str) -> str:
    """The token re-signed with an `exp` in the past: rejected before its user is known."""
    now = int(datetime.now(UTC).timestamp())
    claims = {**jwt.get_unverified_claims(token), "iat": now - 7200, "exp": now - 60}
    forged: str = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    return forged


def test_bad_token_flood_adds_a_row_per_minute_and_counts_every_request(
    roomy_client: TestClient,
) -> None:
    sent = 2000
    user = signup(roomy_client, unique_email("flood-bystander"))
    window = Window()
    with seen_from(roomy_client, FLOOD_IP) as attacker:
        for _ in range(sent):
            assert attacker.get("/auth/me", headers=bearer("not.a.token")).status_code == 401

    rows = rows_from(roomy_client, FLOOD_IP)
    assert set(by_key(rows)) == {(AuthEventType.TOKEN_REJECTED.value, "invalid", None)}
    assert_counted(rows, sent, window)
    # The first request of the minute is the row's example: its request id is kept.
    assert all(row.request_id for row in rows)
    # A real user is unaffected, and their own trail shows no trace of the flood.
    me = roomy_client.get("/auth/me", headers=bearer(user["access_token"]))
    assert me.status_code == 200, me.text
    events = roomy_client.get(
        f"/api/{user['user']['id']}/auth-events", headers=bearer(user["access_token"])
    ).json()["items"]
    assert [(event["event_type"], event["count"]) for event in events] == [("signup", 1)]


def test_each_kind_reason_and_ip_is_counted_apart(roomy_client: TestClient) -> None:
    stale = expired(signup(roomy_client, unique_email("flood-expired"))["access_token"])
    window = Window()
    with seen_from(roomy_client, FLOOD_IP) as one, seen_from(roomy_client, OTHER_IP) as two:
        for _ in range(3):
            assert one.get("/auth/me", headers=bearer("garbage")).status_code == 401
        for _ in range(2):
            assert one.get("/auth/me", headers=bearer(stale)).status_code == 401
        for _ in range(4):
            refresh = one.post("/auth/refresh", json={"refresh_token": "unknown-" + "x" * 40})
            assert refresh.status_code == 401, refresh.text
        assert two.get("/auth/me", headers=bearer("garbage")).status_code == 401

    rejected = AuthEventType.TOKEN_REJECTED.value
    first = by_key(rows_from(roomy_client, FLOOD_IP))
    assert set(first) == {
        (rejected, "invalid", None),
        (rejected, "expired", None),
        (rejected, "unknown_refresh_token", None),
    }
    assert_counted(first[(rejected, "invalid", None)], 3, window)
    assert_counted(first[(rejected, "expired", None)], 2, window)
    assert_counted(first[(rejected, "unknown_refresh_token", None)], 4, window)
    assert_counted(rows_from(roomy_client, OTHER_IP), 1, window)


def test_rate_limited_flood_is_counted_and_login_failures_stay_rows(
    client: TestClient,
) -> None:
    """The deployed limit (5/minute): five failed logins are five rows, each with its
    attempted address; the 45 refusals after them are counted."""
    emails = [unique_email("flood-login") for _ in range(50)]
    window = Window()
    with seen_from(client, FLOOD_IP) as attacker:
        statuses = [
            attacker.post(
                "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
            ).status_code
            for email in emails
        ]
    assert statuses == [401] * 5 + [429] * 45

    rows = by_key(rows_from(client, FLOOD_IP))
    failures = [row for key, group in rows.items() if key[0] == "login_failure" for row in group]
    assert sorted(row.email or "" for row in failures) == sorted(emails[:5])
    assert {(row.reason, row.count, row.bucket) for row in failures} == {("unknown_email", 1, None)}
    assert_counted(rows[(AuthEventType.RATE_LIMITED.value, None, None)], 45, window)


def test_too_many_attempts_is_counted_per_address(make_client: Callable[..., TestClient]) -> None:
    base = make_client(login_failure_limit=3, rate_limit_auth="1000/minute")
    targets = [unique_email("flood-target") for _ in range(2)]
    window = Window()
    with seen_from(base, FLOOD_IP) as attacker:
        for email in targets:
            for attempt in range(10):
                response = attacker.post(
                    "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
                )
                assert response.status_code == (401 if attempt < 3 else 429)

    rows = by_key(rows_from(base, FLOOD_IP))
    for email in targets:
        assert_counted(rows[(AuthEventType.TOO_MANY_ATTEMPTS.value, None, email)], 7, window)


def test_a_real_users_rejected_token_is_a_row_each_time(roomy_client: TestClient) -> None:
    """A revoked token names its user: each rejection is theirs to see, one by one."""
    user = signup(roomy_client, unique_email("flood-revoked"))
    token = user["access_token"]
    with seen_from(roomy_client, FLOOD_IP) as stolen:
        assert stolen.post("/auth/logout", headers=bearer(token)).status_code == 204
        for _ in range(3):
            assert stolen.get("/auth/me", headers=bearer(token)).status_code == 401

    rows = [row for row in rows_from(roomy_client, FLOOD_IP) if row.event_type == "token_rejected"]
    assert [(str(row.user_id), row.reason, row.count, row.bucket) for row in rows] == [
        (user["user"]["id"], "revoked", 1, None)
    ] * 3


def test_concurrent_floods_never_fail_on_the_unique_key(roomy_client: TestClient) -> None:
    """Threads start together, so the first insert of the minute's row is raced too.
    A lost race would surface as a missing count (the audit write swallows errors).

    The threads share the app's own client, so that their requests meet in one event
    loop as on a server (the peer clients above would each bring a loop of their own).
    """
    threads, each = 8, 40
    start = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def flood() -> None:
        start.wait()
        got = [roomy_client.get("/auth/me", headers=bearer("bad")).status_code for _ in range(each)]
        with lock:
            statuses.extend(got)

    window = Window()
    workers = [threading.Thread(target=flood) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert statuses == [401] * (threads * each)
    assert_counted(rows_from(roomy_client, TEST_CLIENT_IP), threads * each, window)


def test_deleting_accounts_whose_addresses_share_a_flood_minute(
    make_client: Callable[..., TestClient],
) -> None:
    """Erasing two addresses from flood rows of one minute must not make the two rows
    collide on their key: both deletions succeed and the counts stay."""
    throttled = make_client(login_failure_limit=3, rate_limit_auth="1000/minute")
    accounts = [signup(throttled, unique_email("flood-deleted")) for _ in range(2)]
    with seen_from(throttled, FLOOD_IP) as attacker:
        for account in accounts:
            for _ in range(5):
                attacker.post(
                    "/auth/login",
                    json={"email": account["user"]["email"], "password": "Wrong7Password!"},
                )

    fresh = make_client()  # a throttle of its own: the owners may confirm their password
    for account in accounts:
        response = fresh.post(
            "/auth/me/delete",
            json={"password": STRONG_PASSWORD},
            headers=bearer(account["access_token"]),
        )
        assert response.status_code == 204, response.text

    flood_rows = [
        row
        for row in rows_from(throttled, FLOOD_IP)
        if row.event_type == AuthEventType.TOO_MANY_ATTEMPTS.value
    ]
    assert {row.email for row in flood_rows} == {None}
    assert sum(row.count for row in flood_rows) == 4


def test_first_rows_of_a_minute_raced_by_many_threads(roomy_client: TestClient) -> None:
    """The sharpest race: many writers, one key, all released at once on a minute that
    has no row yet, each in its own transaction as a failing request writes it."""
    side = roomy_client.app.state.container.side  # type: ignore[attr-defined]
    writers = 16
    start = threading.Barrier(writers)
    client = ClientInfo(ip_address=FLOOD_IP, user_agent="race", request_id=None)

    def reject() -> None:
        start.wait()
        side.try_run(audit.failure(AuthEventType.RATE_LIMITED, client))

    window = Window()
    threads = [threading.Thread(target=reject) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert_counted(rows_from(roomy_client, FLOOD_IP), writers, window)
