"""What clients see when the database fails, and that the service heals itself."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from faults.tcp_proxy import TcpProxy
from servers import free_port
from support import (
    STRONG_PASSWORD,
    HeldHasher,
    bearer,
    create_postgres_database,
    drop_postgres_database,
    run_migrations,
    signup,
    unique_email,
    wait_outbox_settled,
)

pytestmark = pytest.mark.slow


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    text_ = response.text.lower()
    for leak in ("traceback", "psycopg", "sqlite3", "operationalerror", "127.0.0.1", "postgres"):
        assert leak not in text_, leak


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # replaced below
def test_unreachable_database_gives_503_and_health_names_it(
    make_client: Callable[..., TestClient],
) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    client = make_client(database_url=closed)

    assert_unavailable(client.post("/auth/login", json={"email": "a@example.com", "password": "x"}))
    assert_unavailable(
        client.post("/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD})
    )

    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["database"] == "unavailable"
    assert health.json()["rate_limit_storage"] == "ok"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_database_outage_then_recovery_without_restart(
    make_client: Callable[..., TestClient], proxied_postgres: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied_postgres
    client = make_client(database_url=url, rate_limit_auth="1000/minute")
    token = signup(client)["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=me).status_code == 200

    proxy.cut()
    assert_unavailable(client.get("/auth/me", headers=me))
    assert client.get("/health").status_code == 503

    proxy.restore()
    # The pool's pre-ping replaces connections that died during the outage.
    assert client.get("/auth/me", headers=me).status_code == 200
    assert client.get("/health").json()["database"] == "ok"
    signup(client)


def kill_connections(postgres_url: str) -> int:
    """pg_terminate_backend on every connection to the test's database but ours."""
    admin = create_engine(postgres_url)
    try:
        with admin.begin() as connection:
            killed: int = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": make_url(postgres_url).database},
            ).scalar_one()
    finally:
        admin.dispose()
    return killed


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_connection_killed_mid_request_gives_503_then_service_resumes(
    make_client: Callable[..., TestClient], postgres_url: str
) -> None:
    """pg_terminate_backend while a password change is inside bcrypt, between its
    read and its writes, its transaction open: that request gets a clean 503 and
    the next one succeeds."""
    client = make_client(rate_limit_auth="1000/minute")
    email = unique_email()
    token = signup(client, email)["access_token"]
    change = {"current_password": STRONG_PASSWORD, "new_password": "Other7Horse!x"}
    with ThreadPoolExecutor(1) as thread, HeldHasher(client.app) as hasher:
        changing = thread.submit(
            client.post, "/auth/password/change", json=change, headers=bearer(token)
        )
        hasher.wait_for_queue(1)
        assert kill_connections(postgres_url) >= 1
    assert_unavailable(changing.result(timeout=30))

    after = client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert after.status_code == 200, after.text


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_login_outlives_connections_killed_while_it_hashes(
    make_client: Callable[..., TestClient], postgres_url: str
) -> None:
    """A login ends its read before it hashes, so a database restart while it waits
    for the hasher costs it nothing: its writes take a fresh connection."""
    client = make_client(rate_limit_auth="1000/minute")
    email = unique_email()
    signup(client, email)
    credentials = {"email": email, "password": STRONG_PASSWORD}
    with ThreadPoolExecutor(1) as thread, HeldHasher(client.app) as hasher:
        login = thread.submit(client.post, "/auth/login", json=credentials)
        hasher.wait_for_queue(1)
        assert kill_connections(postgres_url) >= 1
    answer = login.result(timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_token_check_survives_a_database_restart(
    make_client: Callable[..., TestClient], postgres_url: str
) -> None:
    """The token check's pool does not ping before each use (a round trip on every
    protected request): when a restart has killed its connections, the next request
    still succeeds, retried once on a fresh connection."""
    client = make_client(rate_limit_auth="1000/minute")
    me = {"Authorization": f"Bearer {signup(client)['access_token']}"}
    for _ in range(3):
        assert client.get("/auth/me", headers=me).status_code == 200
    assert kill_connections(postgres_url) >= 1
    for _ in range(3):
        response = client.get("/auth/me", headers=me)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_read_only_sqlite_gives_503_and_writes_nothing(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    path = make_url(database_url).database
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    writer = make_client(rate_limit_auth="1000/minute")
    signup(writer, "existing@example.com")
    client = make_client(database_url=read_only, rate_limit_auth="1000/minute")

    assert_unavailable(
        client.post("/auth/signup", json={"email": unique_email(), "password": STRONG_PASSWORD})
    )
    # Reads still work: the service degrades, it does not fall over.
    login = client.post(
        "/auth/login", json={"email": "existing@example.com", "password": STRONG_PASSWORD}
    )
    assert_unavailable(login)  # a login must write its session, so it cannot succeed
    with create_engine(database_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
        assert connection.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_full_sqlite_disk_gives_503_and_no_partial_rows(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    client = make_client(rate_limit_auth="1000/minute")
    engine = client.app.state.container.engine  # type: ignore[attr-defined]

    # SQLite's own "database or disk is full" (SQLITE_FULL): cap the file at its size.
    @event.listens_for(engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()  # reconnect with the cap

    statuses = [
        client.post(
            "/auth/signup",
            json={"email": unique_email(), "password": STRONG_PASSWORD, "name": "x" * 100},
        ).status_code
        for _ in range(40)
    ]

    assert set(statuses) <= {201, 503}, statuses
    assert 503 in statuses
    created = statuses.count(201)
    with create_engine(database_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == created
        assert connection.execute(text("SELECT count(*) FROM sessions")).scalar_one() == created
        signups = connection.execute(
            text("SELECT count(*) FROM auth_events WHERE event_type = 'signup'")
        ).scalar_one()
        assert signups == created


def test_burst_of_200_concurrent_signups_loses_nothing(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    app = make_client(rate_limit_auth="100000/minute").app
    emails = [unique_email("burst") for _ in range(200)]
    barrier = threading.Barrier(50)

    def one(email: str) -> int:
        local = TestClient(app, raise_server_exceptions=False)  # the app is already started
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        return local.post(
            "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, emails))

    assert statuses == [201] * 200
    with create_engine(database_url).connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM users")).scalar_one()
    assert stored == 200


@pytest.fixture
def own_postgres_url(postgres_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database that only this test's app connects to: what
    other tests of the process (their apps, their servers) hold on the shared one
    cannot count here."""
    name = f"authapi_test_own_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(name)
    run_migrations(url)
    yield url
    drop_postgres_database(name)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_failed_request_leaves_no_transaction_open(
    make_client: Callable[..., TestClient], own_postgres_url: str
) -> None:
    """A refused request rolls its transaction back before answering: a 401 login
    (which ended its reads before bcrypt) and a 400 reset link (refused mid-read).
    (A session dependency that left it to a finalizer kept the connection "idle in
    transaction", holding locks that made a later TRUNCATE wait forever.)"""
    app = make_client(rate_limit_auth="1000/minute", database_url=own_postgres_url).app
    email = unique_email()
    signup(TestClient(app), email)
    # Not entered: each request gets an event loop of its own that ends with it.
    client = TestClient(app, raise_server_exceptions=False)
    for _ in range(3):
        response = client.post("/auth/login", json={"email": email, "password": "Wrong7Pass!"})
        assert response.status_code == 401
        reset = {"token": "x" * 43, "new_password": STRONG_PASSWORD}
        assert client.post("/auth/password/reset", json=reset).status_code == 400
    # The mail sender's own short transaction (composing the signup's link) is not a
    # request's: let it finish first.
    wait_outbox_settled(app.state.container.engine)
    admin = create_engine(own_postgres_url)
    try:
        with admin.connect() as connection:
            states = (
                connection.execute(
                    text(
                        "SELECT state FROM pg_stat_activity WHERE datname = :db "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"db": make_url(own_postgres_url).database},
                )
                .scalars()
                .all()
            )
    finally:
        admin.dispose()
    assert states  # the app's own connections are there to be seen (idle, in its pool)
    assert [state for state in states if state.startswith("idle in transaction")] == []
