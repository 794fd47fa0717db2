"""Retention on a real database (SQLite and PostgreSQL): what is old goes, what is
live or recent stays, and the periodic job runs once however many try."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

from authapi.config import Settings
from authapi.db import create_db_engine
from authapi.jobs import JOB_NAME, PruneJob
from authapi.models import (
    AuthEvent,
    AuthSession,
    Invitation,
    JobLease,
    KnownDevice,
    Link,
    MailStatus,
    OAuthFlow,
    Organization,
    OutboxMessage,
    RefreshToken,
    User,
    WebAuthnCeremony,
)
from authapi.models.base import utcnow
from authapi.services.retention import RetentionService
from authapi.unit_of_work import SideTransactions
from servers import wait_for
from support import STRONG_PASSWORD, bearer, signup

DAY = timedelta(days=1)
YEAR = timedelta(days=365)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(rate_limit_auth="1000/minute")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings)
    yield engine
    engine.dispose()


def service(engine: Engine, batch_size: int = 1000) -> RetentionService:
    return RetentionService(SideTransactions(engine), audit_retention=YEAR, batch_size=batch_size)


def add_all(engine: Engine, *rows: SQLModel) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.add_all(rows)
        session.commit()


def ids(engine: Engine, model: Any) -> set[Any]:
    key = model.name if model is JobLease else model.id
    with Session(engine) as session:
        return set(session.exec(select(key)).all())


def new_user() -> User:
    return User(email=f"{uuid.uuid4().hex[:10]}@example.com", password_hash="not-a-real-hash")


def auth_session(user: User, now: datetime, **times: datetime) -> AuthSession:
    values: dict[str, Any] = {"expires_at": now + 20 * DAY, **times}
    return AuthSession(user_id=user.id, created_at=now - 10 * DAY, **values)


def tokens_of(session: AuthSession, count: int, now: datetime) -> list[RefreshToken]:
    return [
        RefreshToken(
            session_id=session.id,
            token_hash=uuid.uuid4().hex,
            used_at=now - DAY if i < count - 1 else None,
        )
        for i in range(count)
    ]


def link(user: User, now: datetime, **values: Any) -> Link:
    values.setdefault("expires_at", now + DAY)
    return Link(
        user_id=user.id, purpose="verify_email", token_hash=uuid.uuid4().hex, email=user.email,
        **values,
    )  # fmt: skip


def flow(now: datetime, **values: Any) -> OAuthFlow:
    values.setdefault("expires_at", now + timedelta(minutes=10))
    return OAuthFlow(
        state_hash=uuid.uuid4().hex, browser_hash=uuid.uuid4().hex, provider="idp",
        code_verifier="v" * 64, redirect_to="http://127.0.0.1:5173/", **values,
    )  # fmt: skip


def ceremony(now: datetime, **values: Any) -> WebAuthnCeremony:
    values.setdefault("expires_at", now + timedelta(minutes=5))
    return WebAuthnCeremony(
        token_hash=uuid.uuid4().hex, purpose="login", challenge=b"c" * 32, **values
    )


def invitation(org: Organization, now: datetime, **values: Any) -> Invitation:
    values.setdefault("expires_at", now + 7 * DAY)
    return Invitation(
        org_id=org.id, email=f"{uuid.uuid4().hex}@example.com", role="member", **values
    )


def mail(user: User, status: MailStatus, **values: Any) -> OutboxMessage:
    return OutboxMessage(
        user_id=user.id, kind="password_changed", to_address=user.email, status=status.value,
        **values,
    )  # fmt: skip


def event(created_at: datetime) -> AuthEvent:
    return AuthEvent(event_type="login_failure", reason="unknown_email", created_at=created_at)


def test_prune_deletes_what_is_old_and_keeps_what_is_live(engine: Engine) -> None:
    now = utcnow()
    user = new_user()
    add_all(engine, user)
    live = auth_session(user, now)
    revoked_6_days = auth_session(user, now, revoked_at=now - 6 * DAY)
    expired_2_days = auth_session(user, now, expires_at=now - 2 * DAY)
    revoked_8_days = auth_session(user, now, revoked_at=now - 8 * DAY)
    expired_8_days = auth_session(user, now, expires_at=now - 8 * DAY)
    kept_sessions = [live, revoked_6_days, expired_2_days]
    add_all(engine, *kept_sessions, revoked_8_days, expired_8_days)
    kept_tokens = [*tokens_of(live, 2, now), *tokens_of(revoked_6_days, 1, now)]
    add_all(engine, *kept_tokens, *tokens_of(revoked_8_days, 3, now))
    add_all(engine, *tokens_of(expired_8_days, 2, now))
    unused = link(user, now)
    add_all(engine, unused, link(user, now, used_at=now), link(user, now, expires_at=now - DAY))
    in_flight = flow(now)
    add_all(engine, in_flight, flow(now, used_at=now), flow(now, expires_at=now - DAY))
    pending = ceremony(now)
    add_all(engine, pending, ceremony(now, used_at=now), ceremony(now, expires_at=now))
    recent_device = KnownDevice(
        user_id=user.id,
        family="Firefox on Linux",
        network="192.0.2.0/24",
        last_seen_at=now - 89 * DAY,
    )
    add_all(
        engine,
        recent_device,
        KnownDevice(user_id=user.id, family="Chrome on Windows", network="198.51.100.0/24",
                    last_seen_at=now - 91 * DAY),
    )  # fmt: skip
    org = Organization(name="Acme", slug=f"acme-{uuid.uuid4().hex[:8]}")
    add_all(engine, org)
    open_invitations = [invitation(org, now), invitation(org, now, accepted_at=now)]
    add_all(
        engine,
        *open_invitations,
        invitation(org, now, expires_at=now - DAY),
        invitation(org, now, expires_at=now, revoked_at=now - DAY),
    )
    kept_mail = [
        mail(user, MailStatus.QUEUED),
        mail(user, MailStatus.QUEUED, attempts=3, next_attempt_at=now + DAY, last_error="x"),
        mail(user, MailStatus.SENT, sent_at=now - timedelta(hours=1)),
        mail(user, MailStatus.FAILED, next_attempt_at=now - 10 * DAY),
    ]
    add_all(
        engine,
        *kept_mail,
        mail(user, MailStatus.SENT, sent_at=now - 2 * DAY),
        mail(user, MailStatus.DROPPED, sent_at=now - 2 * DAY),
        mail(user, MailStatus.FAILED, next_attempt_at=now - 31 * DAY),
    )
    kept_events = [event(now), event(now - YEAR + DAY)]
    add_all(engine, *kept_events, *(event(now - YEAR - DAY * i) for i in range(1, 6)))

    # Batches of two: every table needs several, and the last one is partial.
    report = service(engine, batch_size=2).prune()

    assert report.complete
    assert report.deleted == {
        "refresh_tokens": 5,
        "sessions": 2,
        "links": 2,
        "org_invitations": 2,
        "known_devices": 1,
        "oauth_flows": 2,
        "webauthn_ceremonies": 2,
        "mail_outbox": 3,
        "auth_events": 5,
    }
    assert ids(engine, AuthSession) == {s.id for s in kept_sessions}
    assert ids(engine, RefreshToken) == {t.id for t in kept_tokens}
    assert ids(engine, Link) == {unused.id}
    assert ids(engine, OAuthFlow) == {in_flight.id}
    assert ids(engine, WebAuthnCeremony) == {pending.id}
    assert ids(engine, Invitation) == {i.id for i in open_invitations}
    assert ids(engine, KnownDevice) == {recent_device.id}
    assert ids(engine, OutboxMessage) == {m.id for m in kept_mail}
    assert ids(engine, AuthEvent) == {e.id for e in kept_events}
    assert ids(engine, User) == {user.id}

    # Nothing more is due: a second run deletes nothing.
    again = service(engine).prune()
    assert set(again.deleted.values()) == {0}


def test_a_live_login_keeps_working_and_an_old_logout_is_forgotten(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    client = make_client(rate_limit_auth="1000/minute")
    body = signup(client)
    email, password = body["user"]["email"], STRONG_PASSWORD
    other = client.post("/auth/login", json={"email": email, "password": password}).json()
    assert client.post("/auth/logout", headers=bearer(other["access_token"])).status_code == 204

    service(engine).prune()  # a logout of today stays

    assert len(ids(engine, AuthSession)) == 2
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE sessions SET revoked_at = :when WHERE revoked_at IS NOT NULL"),
            {"when": utcnow() - 8 * DAY},
        )

    report = service(engine).prune()

    assert (report.deleted["sessions"], report.deleted["refresh_tokens"]) == (1, 1)
    assert client.get("/auth/me", headers=bearer(body["access_token"])).status_code == 200
    refreshed = client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 401


# -- the periodic job -----------------------------------------------------------------


def make_job(engine: Engine, interval: int = 3600, batch_size: int = 1000) -> PruneJob:
    return PruneJob(engine, service(engine, batch_size), interval_seconds=interval)


def lease(engine: Engine) -> JobLease:
    with Session(engine) as session:
        found = session.exec(select(JobLease).where(JobLease.name == JOB_NAME)).one()
        session.expunge(found)
        return found


def old_events(engine: Engine, count: int) -> None:
    add_all(engine, *(event(utcnow() - YEAR - DAY) for _ in range(count)))


def test_a_new_schedule_waits_one_interval(engine: Engine) -> None:
    old_events(engine, 1)
    before = utcnow()

    assert make_job(engine).run_if_due() is None

    assert lease(engine).next_run_at >= before + timedelta(seconds=3600)
    assert lease(engine).held_by is None
    assert len(ids(engine, AuthEvent)) == 1


def test_a_due_job_runs_once_however_many_processes_try(settings: Settings, engine: Engine) -> None:
    """Four jobs, each with its own engine (as four processes have), race for one
    due run: exactly one prunes, and the schedule moves an interval ahead."""
    old_events(engine, 3)
    add_all(engine, JobLease(name=JOB_NAME, next_run_at=utcnow() - DAY))
    engines = [create_db_engine(settings) for _ in range(4)]
    jobs = [make_job(each) for each in engines]
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        start.wait()
        results[index] = jobs[index].run_if_due()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for each in engines:
        each.dispose()

    reports = [result for result in results if result is not None]
    assert len(reports) == 1, results
    assert reports[0].deleted["auth_events"] == 3
    assert ids(engine, AuthEvent) == set()
    schedule = lease(engine)
    assert (schedule.held_by, schedule.held_until) == (None, None)
    assert schedule.next_run_at > utcnow() + timedelta(seconds=3500)
    assert make_job(engine).run_if_due() is None  # not due again for an hour


def test_a_held_job_is_left_alone_until_the_hold_lapses(engine: Engine) -> None:
    old_events(engine, 1)
    add_all(
        engine,
        JobLease(
            name=JOB_NAME,
            next_run_at=utcnow() - DAY,
            held_by="another-process",
            held_until=utcnow() + timedelta(minutes=5),
        ),
    )
    assert make_job(engine).run_if_due() is None
    assert len(ids(engine, AuthEvent)) == 1

    # That process died mid-run: once its hold lapses, the next check carries on.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE job_leases SET held_until = :past"), {"past": utcnow() - DAY}
        )
    report = make_job(engine).run_if_due()

    assert report is not None
    assert report.deleted["auth_events"] == 1
    assert lease(engine).held_by is None


def test_a_run_stopped_half_way_stays_due_for_the_next_check(engine: Engine) -> None:
    old_events(engine, 3)
    add_all(engine, JobLease(name=JOB_NAME, next_run_at=utcnow() - DAY))
    stopping = make_job(engine, batch_size=1)
    stopping.stop()  # as a shutdown arriving during the first batch

    report = stopping.run_if_due()

    assert report is not None
    assert not report.complete
    assert lease(engine).next_run_at <= utcnow()
    assert len(ids(engine, AuthEvent)) == 3  # it stopped before reaching them
    finished = make_job(engine, batch_size=1).run_if_due()
    assert finished is not None
    assert finished.complete
    assert ids(engine, AuthEvent) == set()


def test_the_service_prunes_in_the_background_unless_disabled(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    old_events(engine, 2)
    add_all(engine, JobLease(name=JOB_NAME, next_run_at=utcnow() - DAY))

    disabled = make_client(prune_interval_seconds=0)
    assert disabled.get("/health").status_code == 200
    assert "prune-job" not in {thread.name for thread in threading.enumerate()}

    make_client(prune_interval_seconds=3600)
    wait_for(lambda: not ids(engine, AuthEvent), 30, "the background prune")
    wait_for(lambda: lease(engine).held_by is None, 30, "the release of the job")
    assert lease(engine).next_run_at > utcnow()
