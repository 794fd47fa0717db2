"""GET /metrics with two real worker processes: whichever worker answers a scrape,
it reports the requests of both, and a worker that dies takes none of its counts
with it. (prometheus-client's multiprocess mode, set up by `serve`.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from servers import authapi_process
from support import STRONG_PASSWORD, unique_email

pytestmark = pytest.mark.slow

CONNECTIONS = 12  # each its own TCP connection: the kernel spreads them over the workers
REQUESTS_PER_CONNECTION = 5
REQUESTS = CONNECTIONS * REQUESTS_PER_CONNECTION
SCRAPES = 6
ME_OK = ("authapi_http_requests_total", {"method": "GET", "route": "/auth/me", "status": "200"})


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape on a new connection (so successive scrapes reach either worker)."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def me_ok(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    name, labels = ME_OK
    return samples.get((name, frozenset(labels.items())), 0.0)


def counted_in(file: Path) -> float:
    """The /auth/me 200s in one process's own sample file."""
    name, labels = ME_OK
    for metric in MultiProcessCollector.merge([str(file)]):
        for sample in metric.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def workers_of(process: subprocess.Popen[bytes]) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    found = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
    )
    return [
        int(pid) for pid in found.stdout.split() if b"resource_tracker" not in _cmdline(int(pid))
    ]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_until(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_two_workers_report_together(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A sample file an earlier run left behind (pid 1 is never one of ours): if it
    # were read, /auth/me would count 1000 too many.
    stale = MmapedDict(str(metrics_dir / "counter_1.db"))
    name, labels = ME_OK
    stale.write_value(
        mmap_key("authapi_http_requests", name, list(labels), list(labels.values()), "stale"),
        1000.0,
        0.0,
    )
    stale.close()

    with authapi_process(tmp_path, WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as (
        base_url,
        process,
    ):
        assert not (metrics_dir / "counter_1.db").exists()
        signed_up = httpx.post(
            f"{base_url}/auth/signup",
            json={"email": unique_email("metrics"), "password": STRONG_PASSWORD},
            timeout=30,
        )
        assert signed_up.status_code == 201
        headers = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
        for _ in range(CONNECTIONS):
            with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
                for _ in range(REQUESTS_PER_CONNECTION):
                    assert client.get("/auth/me").status_code == 200

        workers = workers_of(process)
        assert len(workers) == 2
        per_worker = [counted_in(metrics_dir / f"counter_{pid}.db") for pid in workers]
        assert all(count > 0 for count in per_worker), f"both workers served: {per_worker}"
        assert sum(per_worker) == REQUESTS
        for _ in range(SCRAPES):
            samples = scrape(base_url)
            assert me_ok(samples) == REQUESTS  # whichever worker answered
            signups = ("authapi_auth_events_total", frozenset({("event", "signup")}))
            assert samples[signups] == 1
            assert ("authapi_mail_queue_depth", frozenset()) in samples

        # A worker dies: the supervisor starts another and marks the dead one, whose
        # live gauge (requests in progress) leaves the sum; its counts stay.
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not (metrics_dir / f"gauge_livesum_{victim}.db").exists())
        wait_until(lambda: len(set(workers_of(process)) - set(workers)) == 1)
        assert (metrics_dir / f"counter_{victim}.db").exists()
        for _ in range(SCRAPES):
            samples = scrape(base_url)
            assert me_ok(samples) == REQUESTS
            # the scrape itself, and nothing of the dead worker's
            assert samples[("authapi_http_requests_in_progress", frozenset())] == 1


def test_the_private_metrics_directory_lives_as_long_as_the_service(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with authapi_process(tmp_path, WORKERS="2", TMPDIR=str(temp)) as (base_url, _process):
        [directory] = temp.glob("authapi-metrics-*")
        assert directory.stat().st_mode & 0o777 == 0o700  # the service's own
        assert list(directory.glob("counter_*.db"))
        assert me_ok(scrape(base_url)) == 0
    assert list(temp.iterdir()) == []  # removed when the service stopped


def test_one_worker_with_an_operators_directory_not_made_yet(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "run" / "authapi-metrics"
    with authapi_process(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as (base_url, _):
        for _ in range(3):
            assert httpx.get(f"{base_url}/auth/me", timeout=10).status_code == 401
        samples = scrape(base_url)
    labels = {"method": "GET", "route": "/auth/me", "status": "401"}
    assert samples[("authapi_http_requests_total", frozenset(labels.items()))] == 3
    assert list(metrics_dir.glob("counter_*.db"))  # the files, not the in-process registry
