"""The one markdown table `make bench` prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadgen import Load

LOGIN_CONNECTIONS = 32
ME_CONNECTIONS = 32
REFRESH_CONNECTIONS = 4
STORM_CONNECTIONS = 8

# Targets from issue 6 (on 2 cores, 2 workers).
LOGIN_TARGET = 0.90
ME_TARGET = 0.60
HEALTH_P99_TARGET_MS = 10.0
RSS_TARGET_MB = 120.0
# A keep-alive request slower than this at p50 is waiting for a delayed ACK (~40 ms).
DELAYED_ACK_MS = 20.0


@dataclass
class Ceiling:
    verify_seconds: float  # median, one verification at a time
    rate: float  # cores / verify_seconds
    parallel_rate: float  # measured with every core verifying


@dataclass
class Pass:
    keepalive: Load
    me: Load
    bare: Load
    refresh: Load
    login: Load
    storm_health: Load
    storm_login: Load
    rss_mb: list[float]
    supervisor_rss_mb: float | None


@dataclass
class WorkerResults:
    workers: int
    passes: list[Pass] = field(default_factory=list)
    control: list[Load] = field(default_factory=list)  # bare app, plain h11, 1 connection
    log_problems: list[str] = field(default_factory=list)


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def cpu(load: Load) -> str:
    split = " + ".join(f"{c:.2f}" for c in load.worker_cores)
    services = ""
    for name, value in load.service_cores.items():
        opened = load.service_connections.get(name)
        if value >= 0.01 or opened:
            services += f", {name} {value:.2f}"
            services += f" (≈{opened:,} new connections)" if opened else ""
    other = f"; ⚠ other load {load.other_load:.0%}" if load.other_load >= 0.05 else ""
    return f"; CPU {split}{services}{other}"


def rate_cell(load: Load, digits: int = 0) -> str:
    return (
        f"{load.rate:,.{digits}f} req/s, p50 {duration(load.p50_ms)}, "
        f"p99 {duration(load.p99_ms)}, {load.errors} errors{cpu(load)}"
    )


def one_worker_did_it(load: Load) -> bool:
    """With several workers, did the kernel hand all of wrk's connections to one?"""
    busiest = max(load.worker_cores, default=0.0)
    return len(load.worker_cores) > 1 and busiest > 0.3 and min(load.worker_cores) < busiest / 5


def per_cpu(load: Load) -> float:
    """Requests per CPU-second of the workers: what a request costs, however the
    connections happened to spread over them."""
    return load.rate / sum(load.worker_cores) if sum(load.worker_cores) else 0.0


def render(
    header: str,
    ceilings: Sequence[Ceiling],
    results: Sequence[WorkerResults],
    notes: Sequence[str],
) -> str:
    lines = [
        header,
        "",
        "| scenario | workers | pass 1 | pass 2 | ratio (1 / 2) | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    found: list[str] = []

    def row(scenario: str, workers: str, cells: Sequence[str], *rest: str) -> None:
        ratio, target, met = (*rest, "", "", "")[:3]
        lines.append(
            f"| {scenario} | {workers} | {' | '.join(cells)} | {ratio} | {target} | {met} |"
        )

    ceiling = statistics.mean(c.rate for c in ceilings)
    row(
        "bcrypt ceiling: cores / median verify time (in-process)",
        "-",
        [
            f"{duration(c.verify_seconds * 1000)} per verify → {c.rate:.2f} logins/s"
            for c in ceilings
        ],
    )
    row(
        "bcrypt in-process with every core verifying (the app's hashing pool)",
        "-",
        [f"{c.parallel_rate:.2f} verifies/s" for c in ceilings],
        " / ".join(f"{c.parallel_rate / c.rate:.2f}" for c in ceilings),
        "(do the cores scale?)",
    )
    for result in results:
        w, passes = str(result.workers), result.passes
        ratios = [p.login.rate / ceiling for p in passes]
        row(
            f"POST /auth/login, {LOGIN_CONNECTIONS} connections",
            w,
            [rate_cell(p.login, 2) for p in passes],
            " / ".join(f"{r:.2f}" for r in ratios),
            f"≥ {LOGIN_TARGET:.2f} of ceiling, 0 errors",
            " ".join(
                mark(r >= LOGIN_TARGET and p.login.errors == 0)
                for r, p in zip(ratios, passes, strict=True)
            ),
        )
        ratios = [p.me.rate / p.bare.rate if p.bare.rate else 0.0 for p in passes]
        row(
            f"GET /auth/me, {ME_CONNECTIONS} connections",
            w,
            [rate_cell(p.me) for p in passes],
            " / ".join(f"{r:.2f}" for r in ratios)
            + " (per CPU-second: "
            + " / ".join(f"{per_cpu(p.me) / per_cpu(p.bare):.2f}" for p in passes)
            + ")",
            f"≥ {ME_TARGET:.2f} of bare",
            " ".join(
                "?"
                if one_worker_did_it(p.me) != one_worker_did_it(p.bare)
                else mark(r >= ME_TARGET and p.me.errors == 0)
                for r, p in zip(ratios, passes, strict=True)
            ),
        )
        row(
            f"POST /auth/refresh with rotation, {REFRESH_CONNECTIONS} connections",
            w,
            [rate_cell(p.refresh) for p in passes],
            " / ".join(f"{p.refresh.rate / p.me.rate:.2f}" for p in passes if p.me.rate),
            "(of /auth/me; a write per refresh)",
        )
        row(
            f"bare FastAPI endpoint decoding the same JWT, {ME_CONNECTIONS} connections",
            w,
            [rate_cell(p.bare) for p in passes],
            "",
            "(the reference for /auth/me)",
        )
        row(
            f"GET /health, 1 connection, while {STORM_CONNECTIONS} connections log in",
            w,
            [
                f"p99 {duration(h.raw_p99_ms)} (wrk-corrected {duration(h.p99_ms)}), "
                f"p50 {duration(h.raw_p50_ms)}, max {duration(h.raw_max_ms)}, "
                f"{h.rate:,.0f} req/s, {h.errors} errors; logins {p.storm_login.rate:.2f}/s"
                f"{cpu(h)}"
                for p in passes
                for h in [p.storm_health]
            ],
            "",
            f"p99 ≤ {HEALTH_P99_TARGET_MS:.0f} ms",
            " ".join(
                mark(
                    (p.storm_health.raw_p99_ms or 0) <= HEALTH_P99_TARGET_MS
                    and p.storm_health.errors == 0
                )
                for p in passes
            ),
        )
        row(
            "GET /health keep-alive, 1 connection",
            w,
            [
                f"{k.rate:,.0f} req/s, p50 {duration(k.raw_p50_ms)}, p99 {duration(k.raw_p99_ms)}"
                f"{cpu(k)}"
                for p in passes
                for k in [p.keepalive]
            ],
            "",
            "no ~44 ms delayed-ACK wait",
            " ".join(mark((p.keepalive.raw_p50_ms or 0) < DELAYED_ACK_MS) for p in passes),
        )
        if result.control:
            row(
                "control: bare app on uvicorn's own h11 protocol (no TCP_NODELAY fix), "
                "1 connection",
                w,
                [
                    f"{c.rate:,.0f} req/s, p50 {duration(c.raw_p50_ms)}, "
                    f"p99 {duration(c.raw_p99_ms)}"
                    for c in result.control
                ],
                "",
                "(shows the trap: ~23 req/s)",
            )
        cells = []
        for p in passes:
            cell = ", ".join(f"{value:.0f} MB" for value in p.rss_mb)
            if p.supervisor_rss_mb is not None:
                cell += f" (supervisor {p.supervisor_rss_mb:.0f} MB)"
            cells.append(cell)
        row(
            "RSS per worker after the pass",
            w,
            cells,
            "",
            f"≤ {RSS_TARGET_MB:.0f} MB",
            " ".join(mark(max(p.rss_mb) <= RSS_TARGET_MB) for p in passes),
        )
        for number, p in enumerate(passes, 1):
            lopsided = [
                name
                for name, load in (
                    ("/auth/me", p.me),
                    ("bare", p.bare),
                    ("refresh", p.refresh),
                    ("login", p.login),
                )
                if one_worker_did_it(load)
            ]
            if lopsided:
                found.append(
                    f"⚠ WORKERS={w}, pass {number}: one worker did nearly all the work in "
                    f"{', '.join(lopsided)} (see CPU): the workers share one listening "
                    "socket, and the first to wake accepted nearly all of wrk's connections."
                )
            if one_worker_did_it(p.me) != one_worker_did_it(p.bare):
                found.append(
                    f"⚠ WORKERS={w}, pass {number}: /auth/me and the bare app spread their "
                    "connections differently over the workers, so their throughput ratio is "
                    "not a comparison (met: ?); the per-CPU-second ratio still is."
                )
        if result.log_problems:
            found.append(
                f"⚠ WORKERS={w}: {len(result.log_problems)} error lines in the server log, "
                f"e.g. `{result.log_problems[0][:200]}`"
            )
    return "\n".join([*lines, "", *found, *notes]) + "\n"


LEGEND = (
    "Ratios: logins / the bcrypt ceiling (mean of its two measurements); /auth/me / the "
    "bare app in the same pass. Targets apply to 2 workers on 2 cores. CPU: cores used by "
    "each uvicorn worker, and by PostgreSQL (the bench database's backends, and every backend "
    "that ended meanwhile) and Redis, during the measurement; new connections from "
    "pg_stat_database.sessions. Percentiles of the 32-connection rows are wrk's, which adds "
    "synthetic samples for coordinated omission; /health p50/p99/max time each request "
    "(probe.lua), with wrk's corrected p99 beside it: on one connection a few stalls move "
    "that one a lot. Other load: CPU used meanwhile by processes the bench did not start."
)
