#!/usr/bin/env python3
"""`make bench`: authapi against the ceilings of the machine it runs on.

Starts authapi as `make run` does (`python -m authapi migrate`, then `serve`) on a
free port, seeds users with one bulk insert, drives it with wrk and prints one
markdown table (also written to bench/results/latest.md):

- bcrypt ceiling: median verify time at cost 12, in-process; ceiling = cores / time;
- POST /auth/login with 32 connections, as a ratio of that ceiling;
- GET /auth/me, as a ratio of bench/bare_app.py (it only decodes the same JWT), served
  the same way beside authapi and measured in the same pass;
- POST /auth/refresh, each answer's refresh token used for a next request (rotation);
- GET /health on one connection while 8 connections log in;
- GET /health keep-alive on one connection (the TCP_NODELAY trap), with a control;
- RSS of each uvicorn worker.

Each row is measured twice (pass 1, pass 2), with WORKERS=1 and with WORKERS=2.
Every process started here is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen import BENCH_DIR, Load, Meter, Service, finish_wrk, start_wrk
from processes import (
    Children,
    Server,
    cores,
    interrupt_on_signals,
    machine_busy_seconds,
    request,
    rss_mb,
    start_server,
    wait_idle,
)
from table import (
    LEGEND,
    LOGIN_CONNECTIONS,
    ME_CONNECTIONS,
    REFRESH_CONNECTIONS,
    STORM_CONNECTIONS,
    Ceiling,
    Pass,
    WorkerResults,
    render,
)

PROJECT_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.md"

BCRYPT_ROUNDS = 12
PASSWORD = "Bench-Passw0rd-4711"  # noqa: S105 - the seeded users' password, bench only
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "authapi_bench"
REDIS_URI = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Options:
    database: str
    redis: bool
    users: int
    duration: float
    quick: bool


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- setting up ----------------------------------------------------------------------


def app_env(database_url: str, storage_uri: str, secret: str, workers: int) -> dict[str, str]:
    from authapi.config import Settings

    return {
        # The caller's own authapi settings must not leak into the servers (nor a .env:
        # they run in a temporary directory).
        **{k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields},
        "JWT_SECRET": secret,
        "MFA_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": str(BCRYPT_ROUNDS),
        # Limits and the per-account throttle would turn the load into 429s.
        "RATE_LIMIT_AUTH": "1000000/minute",
        "LOGIN_FAILURE_LIMIT": "1000000",
        "RATE_LIMIT_STORAGE_URI": storage_uri,
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "WORKERS": str(workers),
    }


def prepare_database(kind: str, workdir: Path) -> str:
    """The URL of an empty database: a file in `workdir`, or a fresh PostgreSQL one."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'authapi.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(POSTGRES_SERVER)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    finally:
        admin.dispose()
    return server.set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def postgres_sessions() -> int | None:
    """Connections the bench database has accepted so far (PostgreSQL >= 14)."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(POSTGRES_SERVER).set(drivername="postgresql")
    query = "SELECT sessions FROM pg_stat_database WHERE datname = %s"
    with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as conn:
        row = conn.execute(query, (BENCH_DATABASE,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def migrate(env: dict[str, str], workdir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "authapi", "migrate"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )


def seed_users(database_url: str, count: int, password_hash: str) -> float:
    """bench<i>@example.com, one hash for every row (they share the password), inserted
    with executemany in large batches; returns the seconds it took."""
    from sqlalchemy import create_engine, insert, text
    from sqlmodel import SQLModel

    import authapi.models  # noqa: F401 - registers the tables on the metadata

    users = SQLModel.metadata.tables["users"]
    engine = create_engine(database_url)
    started = time.perf_counter()
    now = datetime.now(UTC)
    batch = 50_000
    try:
        with engine.begin() as connection:
            for first in range(0, count, batch):
                rows = [
                    {
                        "id": uuid.uuid4(),
                        "email": f"bench{i}@example.com",
                        "name": None,
                        "password_hash": password_hash,
                        "is_active": True,
                        "created_at": now,
                        "last_login_at": None,
                    }
                    for i in range(first, min(first + batch, count))
                ]
                connection.execute(insert(users), rows)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))  # plan with the real row counts
    finally:
        engine.dispose()
    return time.perf_counter() - started


def query_plans(database_url: str) -> str:
    """The plans of the two queries whose cost must not grow with the user count:
    the login lookup by email and the session+user lookup of every protected call."""
    from sqlalchemy import create_engine, select

    from authapi.models import User
    from authapi.repositories.sessions import _SESSION_OWNER

    engine = create_engine(database_url)
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    queries = {
        "login: users by email": (
            select(User).where(User.email == "bench1@example.com"),  # type: ignore[arg-type]
            {},
        ),
        "every protected call: session joined to its user": (
            _SESSION_OWNER,
            {"session_id": uuid.uuid4()},
        ),
    }
    lines: list[str] = []
    try:
        with engine.connect() as connection:
            for title, (statement, params) in queries.items():
                compiled = statement.compile(dialect=engine.dialect)
                bound: Any = {**compiled.params, **params}
                if compiled.positiontup:  # SQLite's `?` style, UUIDs stored as hex
                    values = (bound[name] for name in compiled.positiontup)
                    bound = tuple(v.hex if isinstance(v, uuid.UUID) else v for v in values)
                rows = connection.exec_driver_sql(explain + str(compiled), bound).all()
                lines.append(f"-- {title}")
                lines += [" ".join(str(part) for part in row) for row in rows]
    finally:
        engine.dispose()
    return "Query plans:\n\n```\n" + "\n".join(lines) + "\n```"


def require_redis() -> None:
    """authapi would quietly fall back to per-process memory: fail loudly instead."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return
    except OSError:
        pass
    raise SystemExit(f"--redis: no Redis answering at {REDIS_URI}")


def bcrypt_ceiling(samples: int) -> Ceiling:
    from authapi.security import PasswordHasher

    hasher = PasswordHasher(BCRYPT_ROUNDS)
    try:
        stored = hasher.hash(PASSWORD)
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            if not hasher.verify(PASSWORD, stored):
                raise RuntimeError("bcrypt verify failed")
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        # The ceiling assumes the cores hash together as fast as one does alone. Check
        # it through the hasher's own pool (one thread per core), as the app uses it.
        jobs = samples * cores()
        with ThreadPoolExecutor(max_workers=cores()) as callers:
            started = time.perf_counter()
            list(callers.map(lambda _: hasher.verify(PASSWORD, stored), range(jobs)))
            parallel = jobs / (time.perf_counter() - started)
    finally:
        hasher.close()
    return Ceiling(verify_seconds=median, rate=cores() / median, parallel_rate=parallel)


# --- measuring -----------------------------------------------------------------------


class Bench:
    def __init__(self, options: Options, children: Children, workdir: Path) -> None:
        self.options = options
        self.children = children
        self.workdir = workdir
        self.servers: list[Server] = []
        services = [
            Service(
                "PostgreSQL",
                "postgres",
                marker=f" {BENCH_DATABASE} ",
                reaper_marker=" -D ",
                connections=postgres_sessions if options.database == "postgres" else None,
            ),
            Service("Redis", "redis-server", marker=":6379"),
        ]
        self.meter = Meter(self._our_pids, services)
        self.login_env = {"BENCH_USERS": str(options.users), "BENCH_PASSWORD": PASSWORD}

    def _our_pids(self) -> list[int]:
        return [pid for server in self.servers for pid in server.all_pids()]

    def _start(self, name: str, args: list[str], env: dict[str, str], ready: str) -> Server:
        server = start_server(self.children, name, args, env, self.workdir, ready)
        self.servers.append(server)
        return server

    def _wrk(
        self, server: Server, path: str, script: str, connections: int, seconds: float, **env: str
    ) -> Load:
        with self.meter.measure(server.worker_pids()) as usage:
            process = start_wrk(self.children, server.url + path, script, connections, seconds, env)
            try:
                load = finish_wrk(self.children, process, seconds)
            except RuntimeError:
                self._check_servers()  # a server that died says more than wrk
                raise
        usage.apply(load)
        return load

    def _settle(self) -> None:
        self._check_servers()
        wait_idle(self._our_pids)

    def _check_servers(self) -> None:
        for server in self.servers:
            if server.process.poll() is not None:
                tail = server.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"{server.name} exited with {server.process.returncode}:\n{tail}"
                )

    def _storm(self, app: Server, seconds: float) -> tuple[Load, Load]:
        """/health on one connection while STORM_CONNECTIONS connections log in."""
        with self.meter.measure(app.worker_pids()) as usage:
            storm = start_wrk(
                self.children, app.url, "login.lua", STORM_CONNECTIONS, seconds + 2, self.login_env
            )
            time.sleep(1)  # let the logins saturate the CPU first
            probe = start_wrk(self.children, app.url + "/health", "probe.lua", 1, seconds, {})
            try:
                health = finish_wrk(self.children, probe, seconds)
                logins = finish_wrk(self.children, storm, seconds + 2)
            except RuntimeError:
                self._check_servers()
                raise
        usage.apply(health, logins)
        return health, logins

    def _refresh_tokens(self, app: Server, count: int) -> list[str]:
        """Fresh refresh tokens, one login each: every pass starts new rotation chains."""

        def login(user: int) -> str:
            status, body = request(
                "POST",
                app.url + "/auth/login",
                {"email": f"bench{user}@example.com", "password": PASSWORD},
            )
            if status != 200:
                raise RuntimeError(f"login for refresh tokens failed: {status} {body}")
            return str(body["refresh_token"])

        with ThreadPoolExecutor(max_workers=cores()) as pool:
            return list(pool.map(login, range(count)))

    def run_workers(self, workers: int, env: dict[str, str]) -> WorkerResults:
        seconds = self.options.duration
        results = WorkerResults(workers)
        python = sys.executable
        bare_args = [python, str(BENCH_DIR / "bare_app.py")]
        app = self._start(f"authapi-w{workers}", [python, "-m", "authapi", "serve"], env, "/health")
        bare = self._start(f"bare-w{workers}", bare_args, env, "/me")
        control = None
        if workers > 1:  # the trap needs uvicorn's multi-worker listener
            control_env = {**env, "BARE_PLAIN_HTTP": "1"}
            control = self._start(f"bare-h11-w{workers}", bare_args, control_env, "/me")
        try:
            status, body = request(
                "POST",
                app.url + "/auth/login",
                {"email": "bench0@example.com", "password": PASSWORD},
            )
            if status != 200:
                raise RuntimeError(f"login before the run failed: {status} {body}")
            token = body["access_token"]

            log(f"WORKERS={workers}: warm-up")
            self._wrk(app, "/auth/me", "get.lua", ME_CONNECTIONS, 1, BENCH_TOKEN=token)
            self._wrk(bare, "/me", "get.lua", ME_CONNECTIONS, 1, BENCH_TOKEN=token)
            self._wrk(app, "", "login.lua", 4, 1, **self.login_env)
            self._settle()

            for number in (1, 2):
                log(f"WORKERS={workers}: pass {number}")
                probe_seconds = min(seconds, 3)
                keepalive = self._wrk(app, "/health", "probe.lua", 1, probe_seconds)
                if control is not None:
                    results.control.append(
                        self._wrk(control, "/me", "probe.lua", 1, probe_seconds, BENCH_TOKEN=token)
                    )
                me = self._wrk(
                    app, "/auth/me", "get.lua", ME_CONNECTIONS, seconds, BENCH_TOKEN=token
                )
                self._settle()
                bare_me = self._wrk(
                    bare, "/me", "get.lua", ME_CONNECTIONS, seconds, BENCH_TOKEN=token
                )
                self._settle()
                refresh_tokens = self._refresh_tokens(app, 2 * REFRESH_CONNECTIONS)
                self._settle()
                refresh = self._wrk(
                    app,
                    "/auth/refresh",
                    "refresh.lua",
                    REFRESH_CONNECTIONS,
                    seconds,
                    BENCH_REFRESH_TOKENS=",".join(refresh_tokens),
                )
                self._settle()
                # Twice as long: each of 32 queued logins waits seconds for its turn.
                login = self._wrk(
                    app, "", "login.lua", LOGIN_CONNECTIONS, 2 * seconds, **self.login_env
                )
                self._settle()
                storm_health, storm_login = self._storm(app, seconds)
                self._settle()
                results.passes.append(
                    Pass(
                        keepalive=keepalive,
                        me=me,
                        bare=bare_me,
                        refresh=refresh,
                        login=login,
                        storm_health=storm_health,
                        storm_login=storm_login,
                        rss_mb=[rss_mb(pid) for pid in app.worker_pids()],
                        supervisor_rss_mb=app.supervisor_rss_mb(),
                    )
                )
            results.log_problems = app.log_problems()
        finally:
            for server in (control, bare, app):
                if server is not None:
                    self.children.stop(server.process)
                    self.servers.remove(server)
        return results


# --- the run -------------------------------------------------------------------------


def machine_header(options: Options) -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    database = "SQLite" if options.database == "sqlite" else "PostgreSQL"
    storage = "Redis" if options.redis else "memory://"
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"**authapi bench** — {cpu}, {cores()} cores, Python {platform.python_version()}, "
        f"{database}, rate limits in {storage}, {options.users:,} users, bcrypt cost "
        f"{BCRYPT_ROUNDS}, {options.duration:g} s per measurement "
        f"(logins {2 * options.duration:g} s), commit {commit}, {when}"
    )


def busy_share(seconds: float = 1.0) -> float:
    """How busy the machine is before we start: other work skews every number."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / (seconds * cores())


def run(options: Options) -> str:
    from authapi.security import PasswordHasher

    started = time.monotonic()
    notes: list[str] = []
    if options.redis:
        require_redis()
    storage = REDIS_URI if options.redis else "memory://"
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    children = Children()
    with tempfile.TemporaryDirectory(prefix="authapi-bench-") as tmp:
        workdir = Path(tmp)
        try:
            database_url = prepare_database(options.database, workdir)

            def env_for(workers: int) -> dict[str, str]:
                return app_env(database_url, storage, secret, workers)

            log(f"migrating and seeding {options.users:,} users ({options.database})")
            migrate(env_for(1), workdir)
            hasher = PasswordHasher(BCRYPT_ROUNDS)
            password_hash = hasher.hash(PASSWORD)
            hasher.close()
            seeded = seed_users(database_url, options.users, password_hash)
            notes.append(f"Seeded {options.users:,} users in {seeded:.1f} s (one bulk insert).")
            notes.append(query_plans(database_url))

            busy = busy_share()
            if busy >= 0.05:
                log(f"warning: the machine is {busy:.0%} busy before the run")
                notes.append(
                    f"⚠ The machine was {busy:.0%} busy before the run: other work takes "
                    "CPU from the servers and from wrk."
                )
            samples = 5 if options.quick else 10
            log(f"bcrypt ceiling: {samples} verifies at cost {BCRYPT_ROUNDS}, twice")
            ceilings = [bcrypt_ceiling(samples) for _ in range(2)]

            bench = Bench(options, children, workdir)
            results = [bench.run_workers(workers, env_for(workers)) for workers in (1, 2)]
        finally:
            children.stop_all()  # before the temporary directory goes
    notes += [LEGEND, f"Run time {time.monotonic() - started:.0f} s."]
    return render(machine_header(options), ceilings, results, notes)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="authapi against the machine's ceilings.")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", action="store_true", help=f"rate limits in {REDIS_URI}")
    parser.add_argument("--users", type=int, help="users to seed (1000; --quick: 100)")
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (5, logins twice that; --quick: 1)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    users = args.users or (100 if args.quick else 1000)
    seconds = args.duration or (1.0 if args.quick else 5.0)
    if users < 1 or seconds < 1:
        parser.error("--users and --duration must be at least 1")
    return Options(args.database, args.redis, users, seconds, args.quick)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    interrupt_on_signals()
    try:
        table = run(options)
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    print(table)
    log(f"written to {RESULTS.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
