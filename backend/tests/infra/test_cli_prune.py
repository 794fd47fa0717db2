"""`python -m authapi prune` end to end: a real process on a real database (SQLite
and PostgreSQL); its refusals on SQLite only, where the database does not matter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

import authapi
from authapi.config import Settings
from authapi.db import create_db_engine
from authapi.models import AuthEvent, AuthSession, RefreshToken, User
from authapi.models.base import utcnow
from support import TEST_MFA_KEY, TEST_SECRET

pytestmark = pytest.mark.slow

DAY = timedelta(days=1)


def prune(tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    env = {
        # The caller's own authapi settings must not leak into the command under test.
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "JWT_SECRET": TEST_SECRET,
        "MFA_ENCRYPTION_KEY": TEST_MFA_KEY,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(authapi.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "authapi", "prune"],
        cwd=tmp_path,  # no developer .env is read
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.fixture
def session(make_settings: Callable[..., Settings]) -> Iterator[Session]:
    engine = create_db_engine(make_settings())
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def add(session: Session, *rows: SQLModel) -> None:
    session.add_all(rows)
    session.commit()


def test_prune_deletes_old_rows_and_prints_the_counts(
    database_url: str, tmp_path: Path, session: Session
) -> None:
    now = utcnow()
    user = User(email="ada@example.com", password_hash="not-a-real-hash")
    add(session, user)
    ended = AuthSession(user_id=user.id, expires_at=now + DAY, revoked_at=now - 8 * DAY)
    live = AuthSession(user_id=user.id, expires_at=now + DAY)
    add(session, ended, live)
    add(
        session,
        *(RefreshToken(session_id=ended.id, token_hash=f"ended-{i}") for i in range(2)),
        RefreshToken(session_id=live.id, token_hash="live"),
    )
    recent = AuthEvent(event_type="signup", created_at=now - 20 * DAY)
    add(
        session,
        recent,
        *(AuthEvent(event_type="login_failure", created_at=now - 40 * DAY) for _ in range(3)),
    )

    code, out, err = finish(prune(tmp_path, DATABASE_URL=database_url, AUDIT_RETENTION_DAYS="30"))

    assert code == 0, err
    counts = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert out.startswith("pruned in ")
    assert counts == {
        "refresh_tokens": "2",
        "sessions": "1",
        "links": "0",
        "org_invitations": "0",
        "known_devices": "0",
        "oauth_flows": "0",
        "webauthn_ceremonies": "0",
        "mail_outbox": "0",
        "auth_events": "3",
    }
    assert session.exec(select(AuthSession.id)).all() == [live.id]
    assert session.exec(select(RefreshToken.token_hash)).all() == ["live"]
    assert session.exec(select(AuthEvent.id)).all() == [recent.id]


def test_prune_refusals_are_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    not_migrated = prune(tmp_path, DATABASE_URL=f"sqlite:///{empty}")
    bad_setting = prune(tmp_path, DATABASE_URL=f"sqlite:///{empty}", PRUNE_BATCH_SIZE="0")

    runs = [finish(not_migrated), finish(bad_setting)]

    for code, out, err in runs:
        assert code == 1, (out, err)
        assert out == ""
        assert "Traceback" not in err
    assert runs[0][2].startswith("authapi: database error: OperationalError: no such table")
    assert runs[0][2].count("\n") == 1
    assert runs[1][2].startswith("authapi: invalid configuration:")
    assert "PRUNE_BATCH_SIZE" in runs[1][2]
