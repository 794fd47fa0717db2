#!/usr/bin/env python3
"""A flood of bad tokens against a real authapi: how many audit rows it writes, how
fast it is answered, and how a real user's /auth/me fares meanwhile.

    python bench/flood.py [--requests 100000] [--database sqlite|postgres]

Starts authapi as `make run` does on a free port, signs up one user, then sends
`--requests` GETs of /auth/me with a bearer token that is not a JWT from one IP (wrk,
bench/flood.lua) while that user calls /auth/me with their own token every 20 ms on
one keep-alive connection. Prints one markdown table. Every process started here is
stopped on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from loadgen import BENCH_DIR
from processes import Children, Server, interrupt_on_signals, request, start_server
from run import BENCH_DATABASE, app_env, database_url, log, migrate, postgres

CONNECTIONS = 16
PROBE_INTERVAL = 0.02


def audit_rows(url: str) -> tuple[int, int, int]:
    """All rows; rows and requests counted for the flood's rejections."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.execute(text("SELECT count(*) FROM auth_events")).scalar_one()
            flood = connection.execute(
                text(
                    "SELECT count(*), coalesce(sum(count), 0) FROM auth_events "
                    "WHERE event_type = 'token_rejected' AND reason = 'invalid'"
                )
            ).one()
    finally:
        engine.dispose()
    return int(total), int(flood[0]), int(flood[1])


def wrk_flood(children: Children, server: Server, requests: int) -> dict[str, int]:
    """wrk until `requests` answers; a server that dies meanwhile ends the run."""
    url = server.url + "/auth/me"
    process = children.start(
        ["wrk", "-t1", f"-c{CONNECTIONS}", "-d3600s", "-s", str(BENCH_DIR / "flood.lua"), url],
        env={**os.environ, "FLOOD_REQUESTS": str(requests)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        while True:
            try:
                output, _ = process.communicate(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if server.process.poll() is not None:
                    raise RuntimeError(
                        f"authapi exited ({server.process.returncode}) during the flood"
                    ) from None
    finally:
        children.stop(process)
    match = re.search(r"^FLOOD_JSON (\{.*\})$", output.decode(errors="replace"), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk gave no summary:\n{output.decode(errors='replace')}")
    result: dict[str, int] = json.loads(match.group(1))
    return result


class Probe(threading.Thread):
    """A real user's GET /auth/me every PROBE_INTERVAL on one keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                connection.request("GET", "/auth/me", headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.failures += 1  # a dropped connection counts, then a new one
                connection.close()
            else:
                self.latencies.append(time.perf_counter() - started)
                self.failures += response.status != 200
            self.stop.wait(PROBE_INTERVAL)
        connection.close()

    def summary(self) -> str:
        if not self.latencies:
            return "no sample"
        ms = sorted(latency * 1000 for latency in self.latencies)
        p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)))]
        return (
            f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms "
            f"({len(ms):,} answers, {self.failures} failed or not 200)"
        )


def run(requests: int, database: str) -> str:
    children = Children()
    with tempfile.TemporaryDirectory(prefix="authapi-flood-") as tmp:
        workdir = Path(tmp)
        try:
            url = database_url(database, workdir)
            secret = uuid.uuid4().hex + uuid.uuid4().hex
            env = app_env(url, "memory://", secret, 1)
            migrate(env, workdir)
            args = [sys.executable, "-m", "authapi", "serve"]
            server = start_server(children, "authapi", args, env, workdir, "/health")
            status, body = request(
                "POST",
                server.url + "/auth/signup",
                {"email": "flood-bystander@example.com", "password": "Bystander-Passw0rd-7"},
            )
            if status != 201:
                raise RuntimeError(f"signup answered {status}: {body}")

            idle = Probe(int(server.url.rsplit(":", 1)[1]), body["access_token"])
            idle.start()
            time.sleep(3)
            idle.stop.set()
            idle.join()

            rows_before, _, _ = audit_rows(url)
            log(f"flooding /auth/me with {requests:,} bad tokens ({database})")
            probe = Probe(int(server.url.rsplit(":", 1)[1]), body["access_token"])
            probe.start()
            flood = wrk_flood(children, server, requests)
            probe.stop.set()
            probe.join()
            time.sleep(1)  # requests wrk left in flight finish
            rows_after, flood_rows, counted = audit_rows(url)
            problems = server.log_problems()
        finally:
            children.stop_all()
            if database == "postgres":
                postgres(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    seconds = flood["duration_us"] / 1e6
    return "\n".join(
        [
            f"| authapi, {database}, 1 worker, wrk -c{CONNECTIONS} | |",
            "|---|---|",
            f"| bad-token requests answered (wrk) | {flood['requests']:,} in {seconds:.1f} s, "
            f"{flood['not_401']} not 401 |",
            f"| rate | {flood['requests'] / seconds:,.0f} requests/s |",
            f"| audit rows added | {rows_after - rows_before:,} |",
            f"| flood rows / requests they count | {flood_rows:,} / {counted:,} |",
            f"| real user's /auth/me, idle | {idle.summary()} |",
            f"| real user's /auth/me, during the flood | {probe.summary()} |",
            f"| errors or tracebacks in the server log | {len(problems)} |",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A bad-token flood against authapi.")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    options = parser.parse_args(argv)
    interrupt_on_signals()
    try:
        print(run(options.requests, options.database))
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
