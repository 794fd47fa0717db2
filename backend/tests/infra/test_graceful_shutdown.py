"""SIGTERM, as a supervisor or an orchestrator sends it: requests in flight finish,
nothing is half written, and mail that could not be sent yet stays queued."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servers import authapi_process, free_port, wait_for
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow

LOGINS = 6


def test_sigterm_lets_logins_in_flight_finish(tmp_path: Path) -> None:
    emails = [unique_email("term") for _ in range(LOGINS)]
    # Real bcrypt cost: each login takes long enough to be caught in flight. Mail goes
    # to a port where nothing listens, so it can only wait in the queue.
    settings = {
        "BCRYPT_ROUNDS": "12",
        "RATE_LIMIT_AUTH": "1000/minute",
        "MAIL_URL": f"smtp://127.0.0.1:{free_port()}",
        "MAIL_RETRY_SECONDS": "3600",
    }
    with authapi_process(tmp_path, **settings) as (base_url, process):
        for email in emails:
            signed_up = httpx.post(
                f"{base_url}/auth/signup",
                json={"email": email, "password": STRONG_PASSWORD},
                timeout=30,
            )
            assert signed_up.status_code == 201

        def log_in(email: str) -> int:
            response = httpx.post(
                f"{base_url}/auth/login",
                json={"email": email, "password": STRONG_PASSWORD},
                timeout=60,
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=LOGINS) as pool:
            in_flight = [pool.submit(log_in, email) for email in emails]
            # Not a fixed sleep: on a loaded machine the requests may not have reached
            # the server yet, and a connection still in the accept queue is not in flight.
            wait_for(lambda: in_progress(base_url) >= LOGINS, 30, "the logins in flight")
            process.send_signal(signal.SIGTERM)
            statuses = [future.result(timeout=60) for future in in_flight]
            exit_code = process.wait(timeout=60)
        with pytest.raises(httpx.ConnectError):  # and it no longer accepts any
            httpx.get(f"{base_url}/health", timeout=2)

    assert statuses == [200] * LOGINS
    # uvicorn re-raises the signal once its graceful shutdown is done, so that a
    # parent sees how it ended: -SIGTERM here is the clean end, not a kill.
    assert exit_code in (0, -signal.SIGTERM), server_log(tmp_path)
    database = sqlite3.connect(tmp_path / "authapi.db")
    try:
        sessions = database.execute("SELECT count(*) FROM sessions").fetchone()[0]
        refresh = database.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0]
        logins = database.execute(
            "SELECT count(*) FROM auth_events WHERE event_type = 'login_success'"
        ).fetchone()[0]
        mail = database.execute("SELECT status, count(*) FROM mail_outbox GROUP BY status")
        by_status = dict(mail.fetchall())
    finally:
        database.close()
    # Every login that answered 200 is whole: its session, refresh token and audit row.
    assert logins == LOGINS
    assert sessions == refresh == 2 * LOGINS  # signup's sessions and the logins'
    assert by_status == {"queued": LOGINS}  # the verification mails, still waiting


def test_a_stopped_server_leaves_no_process_behind(tmp_path: Path) -> None:
    """With two workers the supervisor passes SIGTERM on and exits when they have."""
    with authapi_process(tmp_path, WORKERS="2") as (base_url, process):
        assert httpx.get(f"{base_url}/health", timeout=5).status_code == 200
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2, "the two workers"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM), server_log(tmp_path)
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in children if Path(f"/proc/{pid}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert alive == []


def in_progress(base_url: str) -> float:
    """Requests the server is answering now, less the scrape that asks."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "authapi_http_requests_in_progress":
                return sample.value - 1
    return 0.0


def server_log(workdir: Path) -> str:
    return "\n".join(path.read_text()[-3000:] for path in workdir.glob("server-*.log"))
