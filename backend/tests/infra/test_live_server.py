"""The real server, started the way `make run` starts it, spoken to over real HTTP.

`python -m authapi migrate` then `python -m authapi serve`, in an empty directory (so
no developer `.env` is read), configured only through the environment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine, text

from servers import authapi_server
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    database_url: str


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live-server")
    database_url = f"sqlite:///{workdir / 'a.db'}"
    with authapi_server(workdir, DATABASE_URL=database_url) as base_url:
        assert (workdir / "a.db").exists(), "migrate created the database"
        yield LiveServer(base_url, database_url)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=10, trust_env=False) as client:
        yield client


def test_health_is_ok(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "rate_limit_storage": "ok"}
    assert response.headers["X-Request-ID"]


def test_signup_login_me_logout_over_real_http(http: httpx.Client) -> None:
    email = unique_email("live")

    signup = http.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    assert signup.status_code == 201, signup.text
    assert signup.json()["user"]["email"] == email

    login = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "bearer"
    assert login.headers["Cache-Control"] == "no-store"
    auth = {"Authorization": f"Bearer {body['access_token']}"}

    me = http.get("/auth/me", headers=auth)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    assert "password_hash" not in me.json()

    logout = http.post("/auth/logout", headers=auth)
    assert logout.status_code == 204, logout.text

    after = http.get("/auth/me", headers=auth)
    assert after.status_code == 401
    assert after.headers["content-type"].startswith("application/problem+json")
    assert after.json()["code"] == "token_revoked"
    assert after.headers["WWW-Authenticate"].startswith("Bearer")


def test_forwarded_for_from_localhost_is_not_trusted(
    http: httpx.Client, live_server: LiveServer
) -> None:
    """TRUSTED_PROXIES is empty, so a spoofed X-Forwarded-For from 127.0.0.1 (which
    uvicorn would believe by default) must not become the recorded client address."""
    email = unique_email("spoof")
    request_id = f"spoof-{uuid.uuid4().hex}"
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": request_id}

    response = http.post(
        "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}, headers=spoofed
    )
    assert response.status_code == 201, response.text

    engine = create_engine(live_server.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT event_type, ip_address, request_id FROM auth_events WHERE email = :e"),
                {"e": email},
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("signup", "127.0.0.1", request_id)]

    # The session the token belongs to records the real peer as well.
    token = response.json()["access_token"]
    sessions = http.get("/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    assert sessions.status_code == 200, sessions.text
    assert [item["ip_address"] for item in sessions.json()] == ["127.0.0.1"]
