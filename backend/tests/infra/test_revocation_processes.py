"""Revocation with real processes: a token logged out on one instance is refused on
the very next request by every worker of every instance (zero requests of delay),
because every protected request checks its session in the shared database."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from servers import authapi_server
from support import STRONG_PASSWORD, bearer, unique_email

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# New connections are spread over the workers by the kernel (one SO_REUSEPORT
# listener each): 24 per instance reach both workers with near certainty.
REQUESTS_PER_INSTANCE = 24


def me_statuses(base_url: str, token: str) -> list[int]:
    """Each on a connection of its own, so that every worker gets its turn."""
    return [
        httpx.get(f"{base_url}/auth/me", headers=bearer(token), timeout=10).status_code
        for _ in range(REQUESTS_PER_INSTANCE)
    ]


def test_a_revoked_session_is_refused_at_once_everywhere(
    tmp_path: Path, migrated_postgres_url: str
) -> None:
    settings = {"DATABASE_URL": migrated_postgres_url, "WORKERS": "2"}
    with ExitStack() as servers:
        urls = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            urls.append(servers.enter_context(authapi_server(workdir, **settings)))
        first, second = urls
        email = unique_email()
        signup = httpx.post(
            f"{first}/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        )
        token = signup.json()["access_token"]
        for url in urls:  # live everywhere: every worker has checked it at least once
            assert set(me_statuses(url, token)) == {200}

        ended = httpx.post(f"{second}/auth/logout", headers=bearer(token))
        assert ended.status_code == 204, ended.text

        for url in urls:
            assert set(me_statuses(url, token)) == {401}
