"""wrk runs: the scripts' own done() hook (report.lua) prints the numbers as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from processes import Children, Usage

BENCH_DIR = Path(__file__).resolve().parent
# A queued login waits seconds: wrk's 2 s default would count them as errors.
WRK_TIMEOUT = "30s"
SUMMARY = "BENCH_JSON "


@dataclass
class Load:
    """One wrk run, and what the machine did meanwhile."""

    requests: int
    seconds: float
    p50_ms: float  # wrk's percentiles, corrected for coordinated omission (report.lua)
    p99_ms: float
    errors: int
    # probe.lua's own timing of each request.
    raw_p50_ms: float | None = None
    raw_p99_ms: float | None = None
    usage: Usage = field(default_factory=Usage)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def start_wrk(
    children: Children,
    url: str,
    script: str,
    connections: int,
    seconds: float,
    env: dict[str, str],
) -> subprocess.Popen[bytes]:
    # One client thread (every core wrk takes is lost to the server), except for
    # probe.lua, which times requests per thread and so wants one connection each.
    threads = connections if script == "probe.lua" else 1
    return children.start(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={WRK_TIMEOUT}",
            "-s",
            str(BENCH_DIR / script),
            url,
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish_wrk(children: Children, process: subprocess.Popen[bytes], seconds: float) -> Load:
    try:
        output, _ = process.communicate(timeout=seconds + 60)
    finally:
        children.stop(process)
    text = output.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith(SUMMARY)]
    if not lines:
        raise RuntimeError(f"wrk gave no summary:\n{text}")
    data = json.loads(lines[-1].removeprefix(SUMMARY))
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        raw_p50_ms=data["raw_p50_us"] / 1000 if "raw_p50_us" in data else None,
        raw_p99_ms=data["raw_p99_us"] / 1000 if "raw_p99_us" in data else None,
    )
