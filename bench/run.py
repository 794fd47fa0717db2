#!/usr/bin/env python3
"""`make bench`: authapi against the ceilings of the machine it runs on.

For each database (SQLite; PostgreSQL with Redis holding the rate limits) it starts
authapi as `make run` does (`python -m authapi migrate`, then `serve`) with 1 and
with 2 workers, seeds users in one INSERT ... SELECT, drives it with wrk, and prints
one markdown table (also written to bench/results/latest.md). Every ratio is taken
within a pass, against references measured in that pass: the bare endpoint
(bare_app.py, served the same way), fastapi-users 15 (peer_fastapi_users.py, from a
throwaway virtualenv outside the repository) and the bcrypt ceiling.
Every process started here is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import admin_search
import mail_throughput
import psutil
from loadgen import BENCH_DIR, Load, finish_wrk, start_wrk
from processes import (
    Children,
    Meter,
    Server,
    cores,
    get_text,
    interrupt_on_signals,
    request,
    rss_mb,
    start_server,
    wait_idle,
)
from prometheus_client.parser import text_string_to_metric_families
from table import (
    DATABASES,
    LEGEND,
    LOGIN_CONNECTIONS,
    ME_CONNECTIONS,
    PROBE_CONNECTIONS,
    STORM_CONNECTIONS,
    WRITE_CONNECTIONS,
    Pass,
    Run,
    render,
)

PROJECT_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.md"
BCRYPT_ROUNDS = 12
PASSWORD = "Bench-Passw0rd-4711"  # noqa: S105 - the seeded users' password, bench only
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Per run: a bench started elsewhere on the machine meanwhile keeps its own.
BENCH_DATABASE = f"authapi_bench_{os.getpid()}"
REDIS_URI = "redis://127.0.0.1:6379/0"
PEER_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
    "authapi-bench/fastapi-users-15"
)
PEER_PACKAGES = ["fastapi-users[sqlalchemy]>=15,<16", "aiosqlite", "uvicorn"]


@dataclass(frozen=True)
class Options:
    databases: list[str]
    users: int
    duration: float
    search_users: int = 1_000_000  # the admin search's row (PostgreSQL); 0 skips it
    search_only: bool = False
    mail_seconds: float = 60.0  # the mail row's load (PostgreSQL); 0 skips it
    mail_only: bool = False
    mail_fault: str | None = None


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- setting up ----------------------------------------------------------------------


def migrate(env: dict[str, str], workdir: Path) -> None:
    """`python -m authapi migrate`, as `make run` does (bench/flood.py uses it too)."""
    subprocess.run(
        [sys.executable, "-m", "authapi", "migrate"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )


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
        "RATE_LIMIT_REFRESH": "1000000/minute",
        "LOGIN_FAILURE_LIMIT": "1000000",
        "RATE_LIMIT_STORAGE_URI": storage_uri,
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "WORKERS": str(workers),
    }


def postgres(statement: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


def database_url(kind: str, workdir: Path) -> str:
    """An empty database: a file in `workdir`, or a fresh PostgreSQL one."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'authapi.db'}"
    from sqlalchemy.engine import make_url

    postgres(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    postgres(f"CREATE DATABASE {BENCH_DATABASE}")
    url = make_url(POSTGRES_SERVER).set(database=BENCH_DATABASE)
    return url.render_as_string(hide_password=False)


def seed_users(url: str, count: int, password_hash: str) -> float:
    """bench<i>@example.com sharing one hash, generated by the database itself in one
    statement (a million take seconds); returns the seconds it took."""
    from sqlalchemy import bindparam, create_engine, text

    from authapi.models.base import UTCDateTime

    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        sql = (
            "INSERT INTO users (id, email, password_hash, is_active, created_at) "
            "SELECT gen_random_uuid(), 'bench' || i || '@example.com', :hash, true, :now "
            "FROM generate_series(0, :last) AS i"
        )
    else:  # SQLAlchemy keeps SQLite's UUIDs as 32 hex digits
        sql = (
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :last) "
            "INSERT INTO users (id, email, password_hash, is_active, created_at) "
            "SELECT lower(hex(randomblob(16))), 'bench' || i || '@example.com', :hash, 1, :now "
            "FROM s"
        )
    statement = text(sql).bindparams(bindparam("now", type_=UTCDateTime()))
    started = time.perf_counter()
    try:
        with engine.begin() as connection:
            connection.execute(
                statement, {"last": count - 1, "hash": password_hash, "now": datetime.now(UTC)}
            )
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))  # plan with the real row counts
    finally:
        engine.dispose()
    return time.perf_counter() - started


def require_redis() -> None:
    """authapi would quietly fall back to per-process memory: fail loudly instead."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URI, socket_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"the PostgreSQL run keeps its limits in Redis: {exc}") from None


def verify_seconds(samples: int) -> float:
    """Median time of one bcrypt verification at the bench's cost, in-process."""
    from authapi.security import PasswordHasher

    hasher = PasswordHasher(BCRYPT_ROUNDS)
    try:
        stored = hasher.hash(PASSWORD)
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            hasher.verify(PASSWORD, stored)
            times.append(time.perf_counter() - started)
    finally:
        hasher.close()
    return statistics.median(times)


def logins_done(server: Server) -> tuple[float, float]:
    """Successful logins so far, summed over the workers by authapi's /metrics, and
    when: the middle of the scrape (one during the storm takes a few ms)."""
    started = time.perf_counter()
    text = get_text(server.url + "/metrics")
    at = (started + time.perf_counter()) / 2
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "authapi_auth_events_total" and sample.labels == {
                "event": "login_success"
            }:
                return sample.value, at
    raise RuntimeError(f"{server.name}'s /metrics counts no successful login")


def quietly(*args: str, timeout: float = 900) -> str:
    """Run one of our own commands (the interpreter, pip); its output, or raise."""
    return subprocess.run(  # noqa: S603 - fixed commands, no outside input
        args, check=True, capture_output=True, text=True, timeout=timeout
    ).stdout


def peer_python() -> tuple[Path | None, str]:
    """fastapi-users 15 in a throwaway virtualenv outside the repository, made once
    and reused: its interpreter and the version, or None and why not."""
    python, done = PEER_VENV / "bin" / "python", PEER_VENV / ".installed"
    try:
        if not done.exists():
            log(f"installing fastapi-users 15 into {PEER_VENV} (once)")
            quietly(sys.executable, "-m", "venv", "--clear", str(PEER_VENV))
            quietly(str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES)
            done.touch()
        version = "import importlib.metadata as m; print(m.version('fastapi-users'))"
        return python, quietly(str(python), "-c", version).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        said = (getattr(exc, "stderr", None) or str(exc)).strip().splitlines()
        return None, f"fastapi-users 15 could not be installed: {said[-1][:160] if said else exc}"


# --- measuring -----------------------------------------------------------------------


class Bench:
    def __init__(self, options: Options, children: Children, workdir: Path) -> None:
        self.options = options
        self.children = children
        self.workdir = workdir
        self.servers: list[Server] = []
        self.meter = Meter(self._our_pids, BENCH_DATABASE)
        self.login_env = {"BENCH_USERS": str(options.users), "BENCH_PASSWORD": PASSWORD}

    def _our_pids(self) -> list[int]:
        return [pid for server in self.servers for pid in server.all_pids()]

    def start(self, name: str, args: list[str], env: dict[str, str], ready: str) -> Server:
        server = start_server(self.children, name, args, env, self.workdir, ready)
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        self.children.stop(server.process)
        self.servers.remove(server)

    def wrk(
        self, server: Server, path: str, script: str, connections: int, seconds: float, **env: str
    ) -> Load:
        with self.explained(server), self.meter.measure(server.worker_pids()) as usage:
            process = start_wrk(self.children, server.url + path, script, connections, seconds, env)
            load = finish_wrk(self.children, process, seconds)
        load.usage = usage
        self.check_servers()
        wait_idle(self._our_pids)
        return load

    @contextlib.contextmanager
    def explained(self, server: Server) -> Iterator[None]:
        """A failed wrk run, with what the servers say: one that died, or the log."""
        try:
            yield
        except RuntimeError as exc:
            self.check_servers()
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{server.name} said:\n{tail}") from None

    def check_servers(self) -> None:
        for server in self.servers:
            if server.process.poll() is not None:
                tail = server.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{tail}")

    def storm(self, app: Server, seconds: float) -> tuple[Load, Load]:
        """/health probed while STORM_CONNECTIONS connections log in."""
        with self.explained(app), self.meter.measure(app.worker_pids()) as usage:
            logins = start_wrk(
                self.children, app.url, "login.lua", STORM_CONNECTIONS, seconds + 2, self.login_env
            )
            time.sleep(1)  # let the logins saturate the CPU first
            probe = start_wrk(
                self.children, app.url + "/health", "probe.lua", PROBE_CONNECTIONS, seconds, {}
            )
            health = finish_wrk(self.children, probe, seconds)
            storm = finish_wrk(self.children, logins, seconds + 2)
        health.usage = storm.usage = usage
        self.check_servers()
        wait_idle(self._our_pids)
        return health, storm

    def idle_health(self, app: Server, seconds: float) -> Load:
        """/health probed on an idle service: the reference the storm's p99 is divided
        by, measured in the same pass (so the ratio holds on any machine)."""
        with self.explained(app), self.meter.measure(app.worker_pids()) as usage:
            probe = start_wrk(
                self.children, app.url + "/health", "probe.lua", PROBE_CONNECTIONS, seconds, {}
            )
            health = finish_wrk(self.children, probe, seconds)
        health.usage = usage
        self.check_servers()
        wait_idle(self._our_pids)
        return health

    def logins(self, app: Server, seconds: float) -> Load:
        """Logins per second in the steady state: counted by authapi's own /metrics
        over a window that leaves out wrk's first second (32 logins all starting) and
        its end (hashes cut off half-done, which wrk does not count: about 2.5% of an
        8 s run). wrk's own numbers give the errors and latencies."""
        with self.explained(app), self.meter.measure(app.worker_pids()) as usage:
            wrk = start_wrk(
                self.children, app.url, "login.lua", LOGIN_CONNECTIONS, seconds + 2, self.login_env
            )
            time.sleep(1)
            first, first_at = logins_done(app)
            time.sleep(seconds)
            last, last_at = logins_done(app)
            load = finish_wrk(self.children, wrk, seconds + 2)
        load.requests, load.seconds, load.usage = round(last - first), last_at - first_at, usage
        self.check_servers()
        wait_idle(self._our_pids)
        return load

    def login(self, server: Server, user: int) -> dict[str, str]:
        body = {"email": f"bench{user}@example.com", "password": PASSWORD}
        status, answer = request("POST", server.url + "/auth/login", body)
        if status != 200:
            raise RuntimeError(f"login on {server.name} failed: {status} {answer}")
        return answer

    def peer_token(self, peer: Server) -> str:
        """Sign a user up on fastapi-users and log it in, as its documentation shows."""
        email = "bench@example.com"
        request("POST", peer.url + "/auth/register", {"email": email, "password": PASSWORD})
        form = {"username": email, "password": PASSWORD}
        status, answer = request("POST", peer.url + "/auth/jwt/login", form=form)
        if status != 200:
            raise RuntimeError(f"fastapi-users login failed: {status} {answer}")
        return str(answer["access_token"])

    def run(self, database: str, workers: int, env: dict[str, str], peer: Path | None) -> Run:
        """Two passes over one database and worker count; with `peer`, fastapi-users
        is served beside them and measured in each pass."""
        python, name = sys.executable, f"{database}-w{workers}"
        result = Run(database, workers)
        app = self.start(f"authapi-{name}", [python, "-m", "authapi", "serve"], env, "/health")
        try:
            bare = self.start(f"bare-{name}", [python, str(BENCH_DIR / "bare_app.py")], env, "/me")
            token = self.login(app, 0)["access_token"]
            # GET /auth/me and what it is measured against, in the same pass.
            readers = [(app, "/auth/me", token), (bare, "/me", token)]
            if peer is not None:
                peer_db = f"sqlite+aiosqlite:///{self.workdir / 'peer.db'}"
                peer_env = {**env, "PEER_DATABASE_URL": peer_db, "PEER_SECRET": env["JWT_SECRET"]}
                args = [str(peer), str(BENCH_DIR / "peer_fastapi_users.py")]
                other = self.start("fastapi-users", args, peer_env, "/users/me")
                readers.append((other, "/users/me", self.peer_token(other)))
            log(f"{DATABASES[database]}, WORKERS={workers}: warm-up")
            for server, path, bearer in readers:
                self.wrk(server, path, "get.lua", ME_CONNECTIONS, 1, BENCH_TOKEN=bearer)
            self.wrk(app, "", "login.lua", 4, 1, **self.login_env)
            for number in (1, 2):
                log(f"{DATABASES[database]}, WORKERS={workers}: pass {number}")
                result.passes.append(self.one_pass(app, token, readers))
            result.log_problems = app.log_problems()
        finally:
            for server in reversed(list(self.servers)):
                self.stop(server)
        return result

    def one_pass(self, app: Server, token: str, readers: list[tuple[Server, str, str]]) -> Pass:
        seconds = self.options.duration
        me, bare, *peer = (
            self.wrk(server, path, "get.lua", ME_CONNECTIONS, seconds, BENCH_TOKEN=bearer)
            for server, path, bearer in readers
        )
        # Fresh refresh tokens, one login each: every pass starts new rotation chains.
        with ThreadPoolExecutor(cores()) as pool:
            logins = pool.map(lambda user: self.login(app, user), range(2 * WRITE_CONNECTIONS))
            chains = [answer["refresh_token"] for answer in logins]
        wait_idle(self._our_pids)
        refresh = self.wrk(
            app,
            "/auth/refresh",
            "refresh.lua",
            WRITE_CONNECTIONS,
            seconds,
            BENCH_REFRESH_TOKENS=",".join(chains),
        )
        patch = self.wrk(
            app,
            "/auth/me",
            "get.lua",
            WRITE_CONNECTIONS,
            seconds,
            BENCH_TOKEN=token,
            BENCH_METHOD="PATCH",
            BENCH_BODY='{"name": "Bench User"}',
        )
        verify = verify_seconds(5)
        login = self.logins(app, 2 * seconds)  # twice as long: 32 queued logins
        idle_health = self.idle_health(app, seconds)
        health, storm = self.storm(app, seconds)
        return Pass(
            me=me,
            bare=bare,
            peer=peer[0] if peer else None,
            refresh=refresh,
            patch=patch,
            login=login,
            verify_seconds=verify,
            ceiling=cores() / verify,
            health=health,
            idle_health=idle_health,
            storm=storm,
            rss_mb=[rss_mb(pid) for pid in app.worker_pids()],
        )


# --- the run -------------------------------------------------------------------------


def machine_header(options: Options, peer_version: str | None) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    peer = f", fastapi-users {peer_version}" if peer_version else ""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"**authapi bench** — {cpu}, {cores()} cores, Python {platform.python_version()}, "
        f"{options.users:,} users, bcrypt cost {BCRYPT_ROUNDS}, {options.duration:g} s per "
        f"measurement (logins {2 * options.duration:g} s){peer}, commit {commit}, {when}"
    )


def run(options: Options) -> str:
    from authapi.security import PasswordHasher

    started = time.monotonic()
    notes: list[str] = []
    busy = psutil.cpu_percent(interval=1.0) / 100
    if busy >= 0.05:
        log(f"warning: the machine is {busy:.0%} busy before the run")
        notes.append(f"⚠ The machine was {busy:.0%} busy before the run: every number is low.")
    # fastapi-users' documented setup is SQLite: it is measured in that run.
    peer, said = peer_python() if "sqlite" in options.databases else (None, "")
    if "postgres" in options.databases:
        require_redis()
    hasher = PasswordHasher(BCRYPT_ROUNDS)
    password_hash = hasher.hash(PASSWORD)
    hasher.close()
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    children = Children()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="authapi-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(options, children, workdir)
        try:
            only = options.search_only or options.mail_only
            for database in [] if only else options.databases:
                url = database_url(database, workdir)
                storage = REDIS_URI if database == "postgres" else "memory://"
                log(f"{DATABASES[database]}: migrating and seeding {options.users:,} users")
                env = app_env(url, storage, secret, 1)
                migrate(env, workdir)
                seeded = seed_users(url, options.users, password_hash)
                notes.append(
                    f"{DATABASES[database]}: seeded {options.users:,} users in {seeded:.1f} s."
                )
                for workers in (1, 2):
                    with_peer = peer if database == "sqlite" and workers == 1 else None
                    env = app_env(url, storage, secret, workers)
                    runs.append(bench.run(database, workers, env, with_peer))
            if (
                "postgres" in options.databases
                and options.mail_seconds > 0
                and not options.search_only
            ):
                url = database_url("postgres", workdir)
                rate, seconds = mail_throughput.MAIL_RATE, options.mail_seconds
                log(f"PostgreSQL: mail at {rate:.0f}/s for {seconds:.0f} s")
                env = app_env(url, REDIS_URI, secret, mail_throughput.MAIL_WORKERS)
                migrate(env, workdir)
                seed_users(url, options.users, password_hash)
                mailed = mail_throughput.measure(
                    children,
                    workdir,
                    url,
                    env,
                    options.users,
                    PASSWORD,
                    seconds=seconds,
                    fault=options.mail_fault,
                )
                notes += mailed.lines()
            if (
                "postgres" in options.databases
                and options.search_users > 0
                and not options.mail_only
            ):
                url = database_url("postgres", workdir)
                log(f"PostgreSQL: the admin search at {options.search_users:,} users")
                env = app_env(url, REDIS_URI, secret, 1)
                migrate(env, workdir)
                seeded = seed_users(url, options.search_users, password_hash)
                notes.append(f"Seeded {options.search_users:,} users in {seeded:.1f} s.")
                found = admin_search.measure(
                    children, workdir, url, env, options.search_users, options.duration, PASSWORD
                )
                notes += found.lines()
        finally:
            children.stop_all()  # before the temporary directory goes
            if "postgres" in options.databases:
                with contextlib.suppress(Exception):
                    postgres(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    notes += [LEGEND, f"Run time {time.monotonic() - started:.0f} s."]
    header = machine_header(options, said if peer else None)
    return render(header, runs, None if peer else said or None, notes)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description="authapi against the machine's ceilings.")
    parser.add_argument(
        "--database",
        default="sqlite,postgres",
        help="sqlite, postgres (with Redis for the rate limits) or both, comma-separated",
    )
    parser.add_argument("--users", type=int, help="users to seed (1000; --quick: 100)")
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (4, logins twice that; --quick: 1)"
    )
    parser.add_argument(
        "--search-users",
        type=int,
        help="users for the admin search row, PostgreSQL (1,000,000; --quick: 10,000; 0 skips)",
    )
    parser.add_argument(
        "--search-only", action="store_true", help="measure only the admin search row"
    )
    parser.add_argument(
        "--mail-seconds",
        type=float,
        help="seconds of queued mail for the mail row, PostgreSQL (60; --quick: 5; 0 skips)",
    )
    parser.add_argument("--mail-only", action="store_true", help="measure only the mail row")
    parser.add_argument(
        "--mail-fault",
        choices=sorted(mail_throughput.FAULTS),
        help="inject a fault half way through the mail row (restart-postgres restarts the "
        "machine's PostgreSQL: not while anything else uses it)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    databases = [d.strip() for d in args.database.split(",") if d.strip()]
    if not databases or any(d not in DATABASES for d in databases):
        parser.error("--database takes sqlite, postgres or sqlite,postgres")
    users = args.users or (100 if args.quick else 1000)
    seconds = args.duration or (1.0 if args.quick else 4.0)
    if users < 1 or seconds < 1:
        parser.error("--users and --duration must be at least 1")
    search_users = args.search_users
    if search_users is None:
        search_users = 10_000 if args.quick else 1_000_000
    if args.search_only and "postgres" not in databases:
        parser.error("--search-only measures PostgreSQL: add it to --database")
    mail_seconds = args.mail_seconds
    if mail_seconds is None:
        mail_seconds = 5.0 if args.quick else 60.0
    if args.mail_only and "postgres" not in databases:
        parser.error("--mail-only measures PostgreSQL: add it to --database")
    return Options(
        databases,
        users,
        seconds,
        search_users,
        args.search_only,
        mail_seconds,
        args.mail_only,
        args.mail_fault,
    )


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
