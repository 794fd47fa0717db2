"""`make bench`'s admin search row: GET /admin/users?query= at 1,000,000 users on
PostgreSQL, 8 connections, one worker; and the query plan that makes it fast.

The users are made by the database in one INSERT ... SELECT (bench<i>@example.com,
named "User <i>"); the admin is one of them, promoted as `users set-role` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadgen import Load, finish_wrk, start_wrk
from processes import Children, request, start_server

SEARCH_CONNECTIONS = 8
SEARCH_TARGET_P99_MS = 20.0


@dataclass(frozen=True)
class SearchResult:
    users: int
    loads: dict[int, Load]  # by the number of workers
    plan: str

    def lines(self) -> list[str]:
        lines = []
        for workers, load in self.loads.items():
            met = load.p99_ms <= SEARCH_TARGET_P99_MS and load.errors == 0
            lines.append(
                f"Admin search (`GET /admin/users?query=`, a page of 20), PostgreSQL, "
                f"{self.users:,} users, WORKERS={workers}, {SEARCH_CONNECTIONS} connections: "
                f"{load.rate:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms "
                f"(target p99 <= {SEARCH_TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'}), "
                f"{load.errors} errors."
            )
        plan = "\n".join(f"    {line}" for line in self.plan.splitlines())
        return [
            *lines,
            "",
            "The plans of `query=bench1` (111,111 users match; one page is read), by email "
            "then by name:",
            "",
            plan,
            "",
        ]


def name_users(url: str) -> None:
    """Give the seeded users names, so that the name's index is searched too."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE users SET name = 'User ' || substr(email, 6, strpos(email, '@') - 6)")
            )
        with engine.begin() as connection:
            connection.execute(text("ANALYZE users"))
    finally:
        engine.dispose()


def promote(url: str, email: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE users SET role = 'admin' WHERE email = :e"), {"e": email}
            )
    finally:
        engine.dispose()


def explain(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.dialects import postgresql

    from authapi.repositories.users import search_statements

    plans = []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            for statement in search_statements("bench1", 51):
                sql = statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
                rows = connection.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}"))
                plans += [str(row[0]) for row in rows]
        return "\n".join(plans)
    finally:
        engine.dispose()


def measure(
    children: Children,
    workdir: Path,
    url: str,
    env: dict[str, str],
    users: int,
    seconds: float,
    password: str,
) -> SearchResult:
    import sys

    name_users(url)
    admin = "bench0@example.com"
    promote(url, admin)
    args = [sys.executable, "-m", "authapi", "serve"]
    loads = {}
    for workers in (1, 2):
        server_env = {**env, "WORKERS": str(workers)}
        name = f"authapi-search-w{workers}"
        server = start_server(children, name, args, server_env, workdir, "/health")
        try:
            status, answer = request(
                "POST", server.url + "/auth/login", {"email": admin, "password": password}
            )
            if status != 200:
                raise RuntimeError(f"the admin's login failed: {status} {answer}")
            script_env = {"BENCH_TOKEN": str(answer["access_token"]), "BENCH_USERS": str(users)}
            warm = start_wrk(children, server.url, "search.lua", SEARCH_CONNECTIONS, 1, script_env)
            finish_wrk(children, warm, 1)
            process = start_wrk(
                children, server.url, "search.lua", SEARCH_CONNECTIONS, seconds, script_env
            )
            loads[workers] = finish_wrk(children, process, seconds)
        finally:
            children.stop(server.process)
    return SearchResult(users, loads, explain(url))
