"""Alembic owns the schema: upgrade and downgrade work on SQLite and PostgreSQL, and the
migrated schema is exactly what the models declare."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, bindparam, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

import authapi.models  # noqa: F401  (registers every table on SQLModel.metadata)
from authapi.models import AuthEvent, AuthEventType
from authapi.models.base import UTCDateTime
from authapi.repositories import auth_events
from support import (
    run_migrations,
)

APP_TABLES = {
    "users",
    "sessions",
    "auth_events",
    "links",
    "mail_outbox",
    "refresh_tokens",
    "job_leases",
    "recovery_codes",
    "identities",
    "oauth_flows",
    "passkeys",
    "webauthn_ceremonies",
    "organizations",
    "org_memberships",
    "org_invitations",
    "known_devices",
}


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


# Compared by what they do instead: alembic compares an index expression as text,
# and PostgreSQL hands back `COLLATE "C"` in a spelling of its own.
# api/test_api_admin_search.py's plan test shows each serving the admin search.
BYTEWISE_INDEXES = {"ix_users_email_bytewise", "ix_users_name_prefix"}


def _compared(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (type_ == "index" and name in BYTEWISE_INDEXES)


def all_index_names(engine: Engine, table: str) -> set[str]:
    """Expression indexes included, which SQLite's inspector leaves out."""
    query = (
        "SELECT indexname FROM pg_indexes WHERE tablename = :table"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :table "
        "AND name NOT LIKE 'sqlite_autoindex%'"
    )
    with engine.connect() as connection:
        return set(connection.execute(text(query), {"table": table}).scalars())


def schema_differences(engine: Engine) -> list[Any]:
    """SQLite cannot reflect the expression index of flood rows, so it is left out of
    the comparison there (and its warnings with it); PostgreSQL compares it, and
    test_audit_counts_migration_keeps_rows_and_counts_floods uses it on both."""
    with warnings.catch_warnings(), engine.connect() as connection:
        warnings.filterwarnings("ignore", message=".*expression-based index")
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _compared}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_upgrade_creates_every_table(empty_database_url: str, engine: Engine) -> None:
    assert table_names(engine) == set()

    run_migrations(empty_database_url)

    assert table_names(engine) == APP_TABLES | {"alembic_version"}


def test_migrated_schema_matches_the_models(empty_database_url: str, engine: Engine) -> None:
    run_migrations(empty_database_url)
    assert schema_differences(engine) == []


def test_downgrade_to_base_then_upgrade_again(empty_database_url: str, engine: Engine) -> None:
    run_migrations(empty_database_url)

    run_migrations(empty_database_url, "base", down=True)
    assert table_names(engine) == {"alembic_version"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 0

    run_migrations(empty_database_url)
    assert table_names(engine) == APP_TABLES | {"alembic_version"}
    assert schema_differences(engine) == []


def test_upgrade_head_twice_is_a_no_op(empty_database_url: str, engine: Engine) -> None:
    run_migrations(empty_database_url)
    run_migrations(empty_database_url)
    assert table_names(engine) == APP_TABLES | {"alembic_version"}


def insert_user(engine: Engine, email: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_active, created_at) "
                "VALUES (:id, :email, :hash, :active, :created_at)"
            ),
            {
                "id": uuid.uuid4().hex,
                "email": email,
                "hash": "$bcrypt-sha256$placeholder",
                "active": True,
                "created_at": datetime.now(UTC),
            },
        )


def test_users_email_is_unique(empty_database_url: str, engine: Engine) -> None:
    run_migrations(empty_database_url)
    email_indexes = [
        index
        for index in inspect(engine).get_indexes("users")
        if index["column_names"] == ["email"] and index["name"] not in BYTEWISE_INDEXES
    ]
    assert [index["unique"] for index in email_indexes] == [True]

    insert_user(engine, "alice@example.com")
    insert_user(engine, "bob@example.com")
    with pytest.raises(IntegrityError):
        insert_user(engine, "alice@example.com")


def test_account_lifecycle_migration_keeps_existing_users(
    empty_database_url: str, engine: Engine
) -> None:
    """0002 upgrades a database in use: users stay (unverified), their audit rows stay,
    and afterwards an audit row may outlive its user. Downgrading clears what the old
    foreign key would not accept and drops the new tables."""
    run_migrations(empty_database_url, "0001")
    insert_user(engine, "alice@example.com")
    with engine.begin() as connection:
        alice = connection.execute(
            text("SELECT id FROM users WHERE email = 'alice@example.com'")
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO auth_events (id, user_id, event_type, email, created_at) "
                "VALUES (:id, :user_id, 'signup', 'alice@example.com', :now)"
            ),
            {"id": uuid.uuid4().hex, "user_id": alice, "now": datetime.now(UTC)},
        )

    run_migrations(empty_database_url)

    assert table_names(engine) == APP_TABLES | {"alembic_version"}
    assert schema_differences(engine) == []
    with engine.begin() as connection:
        verified = connection.execute(
            text("SELECT email_verified_at FROM users WHERE email = 'alice@example.com'")
        ).one()
        assert verified == (None,)
        # An audit row of a user who no longer exists is now allowed.
        connection.execute(
            text(
                "INSERT INTO auth_events (id, user_id, event_type, created_at) "
                "VALUES (:id, :user_id, 'account_deleted', :now)"
            ),
            {"id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex, "now": datetime.now(UTC)},
        )

    run_migrations(empty_database_url, "0001", down=True)

    assert table_names(engine) == {"users", "sessions", "auth_events", "alembic_version"}
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT event_type, user_id IS NULL FROM auth_events ORDER BY event_type")
        ).all()
    assert [(event, bool(orphan)) for event, orphan in rows] == [
        ("account_deleted", True),
        ("signup", False),
    ]


def test_mfa_migration_keeps_existing_users_with_the_factor_off(
    empty_database_url: str, engine: Engine
) -> None:
    """0005 upgrades a database in use: every user starts with the factor off and no
    secret. Downgrading drops the recovery codes and the columns, and the two-step
    logins in progress (links the old code would not know)."""
    run_migrations(empty_database_url, "0003")
    insert_user(engine, "alice@example.com")

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.begin() as connection:
        row = connection.execute(
            text(
                "SELECT id, mfa_enabled, totp_secret, totp_last_step FROM users "
                "WHERE email = 'alice@example.com'"
            )
        ).one()
        alice = row[0]
        assert (bool(row[1]), row[2], row[3]) == (False, None, None)
        now = datetime.now(UTC)
        connection.execute(
            text("UPDATE users SET mfa_enabled = :on, totp_secret = 'sealed', totp_last_step = 1"),
            {"on": True},
        )
        connection.execute(
            text(
                "INSERT INTO recovery_codes (id, user_id, code_hash, created_at) "
                "VALUES (:id, :user_id, :hash, :now)"
            ),
            {"id": uuid.uuid4().hex, "user_id": alice, "hash": "0" * 64, "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO links (id, user_id, purpose, token_hash, email, created_at, "
                "expires_at) VALUES (:id, :user_id, :purpose, :hash, 'alice@example.com', "
                ":now, :now)"
            ),
            [
                {
                    "id": uuid.uuid4().hex,
                    "user_id": alice,
                    "purpose": purpose,
                    "hash": digit * 64,
                    "now": now,
                }
                for purpose, digit in (("mfa_login", "1"), ("password_reset", "2"))
            ],
        )

    run_migrations(empty_database_url, "0003", down=True)

    assert "recovery_codes" not in table_names(engine)
    columns = {column["name"] for column in inspect(engine).get_columns("users")}
    assert not columns & {"mfa_enabled", "totp_secret", "totp_last_step"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).all() == [("alice@example.com",)]
        purposes = connection.execute(text("SELECT purpose FROM links")).all()
    assert purposes == [("password_reset",)]


RETENTION_INDEXES = {
    ("auth_events", "ix_auth_events_created_at"),
    ("sessions", "ix_sessions_expires_at"),
    ("sessions", "ix_sessions_revoked_at"),
    ("links", "ix_links_expires_at"),
}


def index_names(engine: Engine) -> set[tuple[str, str]]:
    """(SQLite cannot reflect the expression index of flood rows: see schema_differences.)"""
    inspector = inspect(engine)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        return {
            (table, index["name"] or "")
            for table in ("auth_events", "sessions", "links")
            for index in inspector.get_indexes(table)
        }


def test_retention_migration_keeps_rows_and_downgrades_cleanly(
    empty_database_url: str, engine: Engine
) -> None:
    """0006 upgrades a database in use (rows untouched) with the table of the job's
    schedule and the indexes pruning deletes by; downgrading removes only those."""
    run_migrations(empty_database_url, "0005")
    insert_user(engine, "alice@example.com")

    run_migrations(empty_database_url)

    assert table_names(engine) == APP_TABLES | {"alembic_version"}
    assert index_names(engine) >= RETENTION_INDEXES
    assert schema_differences(engine) == []
    with engine.connect() as connection:
        emails = connection.execute(text("SELECT email FROM users")).scalars().all()
    assert emails == ["alice@example.com"]

    run_migrations(empty_database_url, "0005", down=True)

    # Down to 0005 leaves the tables before job_leases (and those 0008 on added).
    before = APP_TABLES - {
        "job_leases",
        "identities",
        "oauth_flows",
        "passkeys",
        "webauthn_ceremonies",
        "organizations",
        "org_memberships",
        "org_invitations",
        "known_devices",
    }
    assert table_names(engine) == before | {"alembic_version"}
    assert not RETENTION_INDEXES & index_names(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 1


def flood_event(created_at: datetime) -> AuthEvent:
    return AuthEvent(
        event_type=AuthEventType.TOKEN_REJECTED.value,
        reason="invalid",
        ip_address="203.0.113.9",
        created_at=created_at,
        bucket=created_at.replace(second=0, microsecond=0),
    )


def test_audit_counts_migration_keeps_rows_and_counts_floods(
    empty_database_url: str, engine: Engine
) -> None:
    """0004 upgrades a trail in use: old rows count 1 and are no flood rows; the new
    unique key takes the application's upsert (its expressions match the model's word
    for word, else the database refuses the conflict target). Downgrading drops the
    counts and keeps every row."""
    run_migrations(empty_database_url, "0003")
    old_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO auth_events (id, event_type, reason, ip_address, created_at) "
                "VALUES (:id, 'token_rejected', 'invalid', '203.0.113.9', :now)"
            ),
            {"id": old_id.hex, "now": datetime.now(UTC)},
        )

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with Session(engine) as session:
        old = session.get(AuthEvent, old_id)
        assert old is not None
        assert (old.count, old.bucket) == (1, None)
        now = datetime.now(UTC)
        for _ in range(3):
            auth_events.add_to_flood_row(session, flood_event(now))
        session.commit()
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT count, bucket IS NULL FROM auth_events ORDER BY count")
        ).all()
    assert [(count, bool(plain)) for count, plain in rows] == [(1, True), (3, False)]

    run_migrations(empty_database_url, "0003", down=True)

    columns = {column["name"] for column in inspect(engine).get_columns("auth_events")}
    assert columns.isdisjoint({"count", "bucket"})
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM auth_events")).scalar_one() == 2
    run_migrations(empty_database_url)
    assert schema_differences(engine) == []


# -- 0007: how the second factor was enrolled ------------------------------------------

DAY = timedelta(days=1)
START = datetime(2026, 11, 1, tzinfo=UTC)


def insert_account(engine: Engine, email: str, *, mfa: bool, verified: int | None) -> str:
    """A user at revision 0006 with the factor on or off, verified on day `verified`
    (None: never); returns the id as stored."""
    user_id = uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_active, created_at, "
                "email_verified_at, mfa_enabled) "
                "VALUES (:id, :email, 'x', :on, :created_at, :verified_at, :mfa)"
            ).bindparams(
                bindparam("created_at", type_=UTCDateTime()),
                bindparam("verified_at", type_=UTCDateTime()),
            ),
            {
                "id": user_id,
                "email": email,
                "on": True,
                "created_at": START,
                "verified_at": START + verified * DAY if verified is not None else None,
                "mfa": mfa,
            },
        )
    return user_id


def insert_events(engine: Engine, user_id: str, *events: tuple[str, int]) -> None:
    """Audit rows of the user: (event type, day)."""
    if not events:
        return
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO auth_events (id, user_id, event_type, created_at, count) "
                "VALUES (:id, :user_id, :event_type, :at, 1)"
            ).bindparams(bindparam("at", type_=UTCDateTime())),
            [
                {
                    "id": uuid.uuid4().hex,
                    "user_id": user_id,
                    "event_type": kind,
                    "at": START + day * DAY,
                }
                for kind, day in events
            ],
        )


def test_enrolled_unverified_migration_backfills_from_the_audit_trail(
    empty_database_url: str, engine: Engine
) -> None:
    """0007 upgrades a database in use: the flag is true for a factor on an address
    still unverified, or verified only after the (newest) enrolment; false where the
    address was proven first, even when an email change later re-set
    `email_verified_at`, and where the trail has no enrolment left to judge by.
    Downgrading drops the column and keeps every user."""
    run_migrations(empty_database_url, "0006")
    expected = {
        "squatted@example.com": True,  # never verified
        "reset-after@example.com": True,  # the owner's reset came after the enrolment
        "clicked-after@example.com": True,  # the signup link came after the enrolment
        "verified-first@example.com": False,
        "changed-later@example.com": False,  # verified, enrolled, then a new address
        "enrolled-again@example.com": False,  # off and on again once verified
        "pruned@example.com": False,  # verified, no mfa_enabled row left
        "no-factor@example.com": False,  # unverified, factor off
    }
    trails: dict[str, tuple[bool, int | None, list[tuple[str, int]]]] = {
        "squatted@example.com": (True, None, [("mfa_enabled", 1)]),
        "reset-after@example.com": (True, 3, [("mfa_enabled", 1), ("password_reset", 3)]),
        "clicked-after@example.com": (True, 2, [("mfa_enabled", 1), ("email_verified", 2)]),
        "verified-first@example.com": (True, 1, [("email_verified", 1), ("mfa_enabled", 2)]),
        "changed-later@example.com": (
            True,
            4,
            [("email_verified", 1), ("mfa_enabled", 2), ("email_changed", 4)],
        ),
        "enrolled-again@example.com": (
            True,
            2,
            [("mfa_enabled", 1), ("email_verified", 2), ("mfa_disabled", 3), ("mfa_enabled", 4)],
        ),
        "pruned@example.com": (True, 1, []),
        "no-factor@example.com": (False, None, [("signup", 0)]),
    }
    for email, (mfa, verified, events) in trails.items():
        insert_events(engine, insert_account(engine, email, mfa=mfa, verified=verified), *events)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT email, mfa_enrolled_unverified FROM users")).all()
    assert {email: bool(flag) for email, flag in rows} == expected

    run_migrations(empty_database_url, "0006", down=True)

    columns = {column["name"] for column in inspect(engine).get_columns("users")}
    assert "mfa_enrolled_unverified" not in columns
    with engine.connect() as connection:
        emails = connection.execute(text("SELECT email FROM users")).scalars().all()
    assert set(emails) == set(expected)


# -- 0008: social sign-in ------------------------------------------------------------


def test_social_login_migration_keeps_users_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    """0008 upgrades a database with users in it (their passwords untouched) and lets
    an account have none; down again, such an account keeps a hash no password
    matches, and the other users keep theirs."""
    run_migrations(empty_database_url, "0007")
    insert_account(engine, "kept@example.com", mfa=False, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.begin() as connection:
        assert connection.execute(text("SELECT password_hash FROM users")).scalar_one() == "x"
        connection.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_active, created_at, "
                "mfa_enabled, mfa_enrolled_unverified) "
                "VALUES (:id, 'social@example.com', NULL, :on, :at, :off, :off)"
            ).bindparams(bindparam("at", type_=UTCDateTime())),
            {"id": uuid.uuid4().hex, "on": True, "off": False, "at": START},
        )

    run_migrations(empty_database_url, "0007", down=True)

    assert {"identities", "oauth_flows"}.isdisjoint(table_names(engine))
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT email, password_hash FROM users")).all())
    assert rows == {"kept@example.com": "x", "social@example.com": "!"}
    column = next(c for c in inspect(engine).get_columns("users") if c["name"] == "password_hash")
    assert column["nullable"] is False


def test_passkeys_migration_keeps_users_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    """0009 upgrades a database with users in it (each with no passkey) and comes down
    again without them."""
    run_migrations(empty_database_url, "0008")
    insert_account(engine, "kept@example.com", mfa=True, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        row = connection.execute(text("SELECT email, passkey_count FROM users")).one()
    assert tuple(row) == ("kept@example.com", 0)

    run_migrations(empty_database_url, "0008", down=True)

    assert {"passkeys", "webauthn_ceremonies"}.isdisjoint(table_names(engine))
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert "passkey_count" not in columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar_one() == (
            "kept@example.com"
        )


def test_admin_migration_keeps_users_as_plain_users_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    """0010 upgrades a database with users in it (each a plain, enabled user) and comes
    down again without the new columns and indexes."""
    run_migrations(empty_database_url, "0009")
    insert_account(engine, "kept@example.com", mfa=False, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT email, role, disabled_reason, disabled_until FROM users")
        ).one()
    assert tuple(row) == ("kept@example.com", "user", None, None)
    assert {"ix_users_name_prefix", "ix_users_created_at_id"} <= all_index_names(engine, "users")

    run_migrations(empty_database_url, "0009", down=True)

    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert {"role", "disabled_reason", "disabled_until"}.isdisjoint(columns)
    assert all_index_names(engine, "users") == {"ix_users_email"} | (
        {"pk_users"} if engine.dialect.name == "postgresql" else set()
    )
    assert "impersonator_id" not in {c["name"] for c in inspect(engine).get_columns("sessions")}
    assert "actor_id" not in {c["name"] for c in inspect(engine).get_columns("auth_events")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar_one() == (
            "kept@example.com"
        )


def test_organizations_migration_keeps_users_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    run_migrations(empty_database_url, "0010")
    insert_account(engine, "kept@example.com", mfa=False, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    assert {"organizations", "org_memberships", "org_invitations"} <= table_names(engine)

    run_migrations(empty_database_url, "0010", down=True)

    assert {"organizations", "org_memberships", "org_invitations", "known_devices"}.isdisjoint(
        table_names(engine)
    )
    columns = {c["name"] for c in inspect(engine).get_columns("mail_outbox")}
    assert "invitation_id" not in columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar_one() == (
            "kept@example.com"
        )


def test_known_devices_migration_keeps_users_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    run_migrations(empty_database_url, "0011")
    insert_account(engine, "kept@example.com", mfa=False, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM known_devices")).scalar_one() == 0

    run_migrations(empty_database_url, "0011", down=True)

    assert "known_devices" not in table_names(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar_one() == (
            "kept@example.com"
        )


def test_email_login_migration_keeps_links_and_comes_down(
    empty_database_url: str, engine: Engine
) -> None:
    run_migrations(empty_database_url, "0012")
    insert_account(engine, "kept@example.com", mfa=False, verified=1)

    run_migrations(empty_database_url)

    assert schema_differences(engine) == []
    columns = {c["name"] for c in inspect(engine).get_columns("links")}
    assert {"code_hash", "code_attempts"} <= columns

    run_migrations(empty_database_url, "0012", down=True)

    columns = {c["name"] for c in inspect(engine).get_columns("links")}
    assert {"code_hash", "code_attempts"}.isdisjoint(columns)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar_one() == (
            "kept@example.com"
        )
