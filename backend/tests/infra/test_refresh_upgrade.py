"""Migration 0003 (refresh tokens) upgrades a database in use without logging anyone
out: a session made before it, with an access token signed the old way (HS256 with
the secret, no `kid` header), still works after `upgrade head`; and the way back to
0002 works with refresh tokens in the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Uuid,
    inspect,
    select,
)

from authapi.config import Settings
from authapi.main import create_app
from authapi.models.base import UTCDateTime
from authapi.security import PasswordHasher
from support import (
    FAST_ROUNDS,
    STRONG_PASSWORD,
    TEST_MFA_KEY,
    TEST_SECRET,
    alembic_config,
    bearer,
    run_migrations,
)

# The two tables as revision 0002 left them (not the models, which may move on).
_OLD = MetaData()
OLD_USERS = Table(
    "users",
    _OLD,
    Column("id", Uuid(), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(100)),
    Column("password_hash", String(255), nullable=False),
    Column("is_active", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime()),
    Column("email_verified_at", UTCDateTime()),
)
OLD_SESSIONS = Table(
    "sessions",
    _OLD,
    Column("id", Uuid(), primary_key=True),
    Column("user_id", Uuid(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("ip_address", String(45)),
    Column("user_agent", String(512)),
)


def old_style_token(user_id: uuid.UUID, session_id: uuid.UUID, now: datetime) -> str:
    """A token as the app signed them before signing keys had ids: no `kid` header."""
    issued_at = now.replace(microsecond=0)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": uuid.uuid4().hex,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(hours=24)).timestamp()),
        "iss": "authapi",
        "aud": "authapi",
    }
    token: str = jwt.encode(payload, TEST_SECRET, algorithm="HS256")
    assert "kid" not in jwt.get_unverified_header(token)
    return token


def seed_at_0002(engine: Engine) -> tuple[str, str, uuid.UUID]:
    """A user with a live session, and that session's old-style access token."""
    now = datetime.now(UTC)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    email = f"old-{user_id.hex[:8]}@example.com"
    hasher = PasswordHasher(FAST_ROUNDS, workers=1)
    try:
        password_hash = hasher.hash(STRONG_PASSWORD)
    finally:
        hasher.close()
    with engine.begin() as connection:
        connection.execute(
            OLD_USERS.insert().values(
                id=user_id,
                email=email,
                name="Old Timer",
                password_hash=password_hash,
                is_active=True,
                created_at=now - timedelta(days=3),
                last_login_at=now - timedelta(hours=1),
            )
        )
        connection.execute(
            OLD_SESSIONS.insert().values(
                id=session_id,
                user_id=user_id,
                created_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=29),
                ip_address="127.0.0.1",
                user_agent="old-client",
            )
        )
    return old_style_token(user_id, session_id, now), email, session_id


def app_client(database_url: str) -> TestClient:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        mfa_encryption_key=TEST_MFA_KEY,
        bcrypt_rounds=FAST_ROUNDS,
        rate_limit_auth="1000/minute",
        rate_limit_storage_uri="memory://",
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def head(database_url: str) -> str:
    return str(ScriptDirectory.from_config(alembic_config(database_url)).get_current_head())


def revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())


def test_old_access_token_survives_the_upgrade(empty_database_url: str, engine: Engine) -> None:
    run_migrations(empty_database_url, "0002")
    assert "refresh_tokens" not in inspect(engine).get_table_names()
    token, email, session_id = seed_at_0002(engine)

    run_migrations(empty_database_url)

    assert revision(engine) == head(empty_database_url)
    assert "refresh_tokens" in inspect(engine).get_table_names()
    with app_client(empty_database_url) as client:
        me = client.get("/auth/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
        listed = client.get("/auth/sessions", headers=bearer(token)).json()
        assert [row["id"] for row in listed] == [str(session_id)]
        assert listed[0]["current"] is True
        # The old session has no refresh token; a new login gets one, which works.
        login = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 200, login.text
        assert len(login.json()["refresh_token"]) >= 43
        new_header = jwt.get_unverified_header(login.json()["access_token"])
        assert new_header.get("kid"), "new tokens name their key"
        refreshed = client.post(
            "/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        # Logging out the old session still revokes the old token.
        assert client.post("/auth/logout", headers=bearer(token)).status_code == 204
        assert client.get("/auth/me", headers=bearer(token)).status_code == 401


def test_downgrade_to_0002_with_refresh_tokens_in_use(
    empty_database_url: str, engine: Engine
) -> None:
    run_migrations(empty_database_url, "0002")
    token, email, session_id = seed_at_0002(engine)
    run_migrations(empty_database_url)
    with app_client(empty_database_url) as client:
        login = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 200, login.text
        refreshed = client.post(
            "/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text

    run_migrations(empty_database_url, "0002", down=True)

    assert revision(engine) == "0002"
    assert "refresh_tokens" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        sessions = connection.execute(select(OLD_SESSIONS.c.id)).scalars().all()
        users = connection.execute(select(OLD_USERS.c.email)).scalars().all()
    # The sessions and the user stay; only the refresh tokens are gone.
    assert session_id in sessions
    assert len(sessions) == 2
    assert users == [email]

    # And up again: the table comes back, empty, and the old token still works.
    run_migrations(empty_database_url)
    assert revision(engine) == head(empty_database_url)
    with app_client(empty_database_url) as client:
        assert client.get("/auth/me", headers=bearer(token)).status_code == 200
