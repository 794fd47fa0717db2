"""`make bench`'s mail row: reset mails queued at a steady rate (25 a second for 60 s
by default) into authapi with WORKERS=2 on PostgreSQL + Redis, delivered to a real
SMTP server (aiosmtpd, in this process), while LOGIN_CONNECTIONS log in meanwhile
(bcrypt takes the cores, as in the operator's report the row answers).

Queue-to-send is each message's `sent_at - created_at` in the outbox (the database
stamps both); duplicates are messages the SMTP server saw twice (by Message-ID);
drained is how long after the last request the queue took to empty.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import finish_wrk, start_wrk
from processes import Children, request, start_server

MAIL_RATE = 25.0  # mails queued per second
MAIL_SECONDS = 60.0
MAIL_WORKERS = 2
TARGET_P99_SECONDS = 5.0
TARGET_DRAIN_SECONDS = 5.0
SENDERS = 4  # threads that make the requests: one alone could fall behind the pace
LOGIN_CONNECTIONS = 4


# Faults `--mail-fault` injects half way through the load, as an operator's test would.
FAULTS = {
    "restart-postgres": "PostgreSQL restarted (pg_ctlcluster ... restart, fast)",
    "kill-worker": "one worker killed with SIGKILL (the supervisor starts another)",
}


@dataclass(frozen=True)
class MailResult:
    queued: int
    delivered: int
    duplicates: int
    missing: int
    p50_s: float
    p99_s: float
    drained_s: float | None  # None: not empty within the wait
    refused: int  # requests answered with anything but 202
    rate: float
    seconds: float
    logins_per_s: float
    fault: str | None = None

    def lines(self) -> list[str]:
        once = self.duplicates == 0 and self.missing == 0
        drained = f"{self.drained_s:.1f} s" if self.drained_s is not None else "not within the wait"
        if self.fault:  # judged on what arrived: a dead worker's claims wait out their lease
            during = f", {FAULTS[self.fault]} half way"
            target = f"(target: each committed mail once: {'met' if once else 'NOT met'})"
        else:
            during = ""
            met = (
                once
                and self.p99_s <= TARGET_P99_SECONDS
                and self.drained_s is not None
                and self.drained_s <= TARGET_DRAIN_SECONDS
            )
            target = (
                f"(target p99 <= {TARGET_P99_SECONDS:.0f} s and empty within "
                f"{TARGET_DRAIN_SECONDS:.0f} s: {'met' if met else 'NOT met'})"
            )
        return [
            f"Mail{during}, PostgreSQL + Redis, WORKERS={MAIL_WORKERS}, "
            f"{self.rate:.0f} reset mails/s queued for {self.seconds:.0f} s while "
            f"{LOGIN_CONNECTIONS} connections log in ({self.logins_per_s:.0f}/s), real SMTP: "
            f"{self.queued:,} committed, {self.delivered:,} delivered, {self.duplicates} "
            f"duplicated, {self.missing} missing, {self.refused} requests refused; "
            f"queue-to-send p50 {self.p50_s:.2f} s, p99 {self.p99_s:.2f} s; queue empty "
            f"{drained} after the load {target}."
        ]


class _Sink:
    """What the SMTP server received, by Message-ID."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        import email
        import email.policy

        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        with self._lock:
            self.seen[str(message["Message-ID"])] += 1
        return "250 OK"


def _inject(fault: str, supervisor_pid: int) -> None:
    import glob
    import os
    import shutil
    import signal
    import subprocess

    import psutil

    if fault == "restart-postgres":
        version = os.path.basename(sorted(glob.glob("/etc/postgresql/*"))[-1])
        restart = ["--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"]
        subprocess.run(  # noqa: S603
            [shutil.which("pg_ctlcluster") or "pg_ctlcluster", *restart],
            check=True,
            capture_output=True,
        )
    elif fault == "kill-worker":
        workers = psutil.Process(supervisor_pid).children()
        workers = [w for w in workers if "resource_tracker" not in " ".join(w.cmdline())]
        os.kill(workers[0].pid, signal.SIGKILL)


class _Outbox:
    """The run's outbox, read through one engine: polled while the queue drains, so
    the poll counts the queued rows only."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self._engine = create_engine(url)

    def _scalar(self, sql: str) -> int:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())

    def queued(self) -> int:
        return self._scalar("SELECT count(*) FROM mail_outbox WHERE status = 'queued'")

    def committed(self) -> int:
        return self._scalar("SELECT count(*) FROM mail_outbox")

    def waits(self) -> list[float]:
        """Queue-to-send of every sent message, in seconds, sorted."""
        from sqlalchemy import text

        sql = (
            "SELECT extract(epoch FROM sent_at - created_at) FROM mail_outbox WHERE status = 'sent'"
        )
        with self._engine.connect() as connection:
            return sorted(float(wait) for (wait,) in connection.execute(text(sql)))

    def close(self) -> None:
        self._engine.dispose()


def measure(
    children: Children,
    workdir: Path,
    url: str,
    env: dict[str, str],
    users: int,
    password: str,
    rate: float = MAIL_RATE,
    seconds: float = MAIL_SECONDS,
    fault: str | None = None,
) -> MailResult:
    import sys

    from aiosmtpd.controller import Controller
    from processes import free_port

    sink = _Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    outbox = _Outbox(url)
    try:
        env = {
            **env,
            "WORKERS": str(MAIL_WORKERS),
            "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "MAIL_RATE_LIMIT": "1000000/hour",
            "MAIL_ADDRESS_LIMIT": "1000000/hour",
        }
        server = start_server(
            children,
            "authapi-mail",
            [sys.executable, "-m", "authapi", "serve"],
            env,
            workdir,
            "/health",
        )
        try:
            total = int(rate * seconds)
            logins = start_wrk(
                children,
                server.url,
                "login.lua",
                LOGIN_CONNECTIONS,
                seconds,
                {"BENCH_USERS": str(users), "BENCH_PASSWORD": password},
            )
            injector = None
            if fault is not None:
                injector = threading.Timer(seconds / 2, _inject, (fault, server.process.pid))
                injector.start()
            refused = _queue_at_rate(server.url, users, rate, total)
            if injector is not None:
                injector.join()
            load_ended = time.monotonic()
            logged_in = finish_wrk(children, logins, seconds)
            drained: float | None = None
            # A killed worker's claims wait out their lease (MAIL_CLAIM_SECONDS, 120 s).
            wait = 150 if fault == "kill-worker" else 60
            while time.monotonic() - load_ended < wait:
                if outbox.queued() == 0:
                    drained = time.monotonic() - load_ended
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # a late duplicate would arrive now
            waits, committed = outbox.waits(), outbox.committed()
        finally:
            children.stop(server.process)
    finally:
        outbox.close()
        controller.stop()
    p50 = statistics.median(waits) if waits else float("nan")
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))] if waits else float("nan")
    delivered = sum(sink.seen.values())
    return MailResult(
        queued=committed,
        delivered=delivered,
        duplicates=sum(count - 1 for count in sink.seen.values() if count > 1),
        missing=max(0, committed - len(sink.seen)),
        p50_s=p50,
        p99_s=p99,
        drained_s=drained,
        refused=refused,
        rate=rate,
        seconds=seconds,
        logins_per_s=logged_in.rate,
        fault=fault,
    )


def _queue_at_rate(base_url: str, users: int, rate: float, total: int) -> int:
    """`total` forgot-password requests, the k-th at start + k / rate, for users in
    turn; returns how many were not answered 202."""
    started = time.monotonic() + 0.2
    refused = 0
    lock = threading.Lock()
    turn = iter(range(total))

    def sender() -> None:
        nonlocal refused
        while True:
            with lock:
                k = next(turn, None)
            if k is None:
                return
            delay = started + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status, _ = request(
                "POST",
                f"{base_url}/auth/password/forgot",
                {"email": f"bench{k % users}@example.com"},
            )
            if status != 202:
                with lock:
                    refused += 1

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused
