"""The one markdown table `make bench` prints: a row per scenario and worker count,
a column per database, each cell the worst of two passes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loadgen import Load

DATABASES = {"sqlite": "SQLite", "postgres": "PostgreSQL + Redis"}
ME_CONNECTIONS = 32
LOGIN_CONNECTIONS = 32
WRITE_CONNECTIONS = 4  # refresh and PATCH: each is a write, and SQLite serialises them
STORM_CONNECTIONS = 8
PROBE_CONNECTIONS = 2


@dataclass
class Pass:
    me: Load
    bare: Load
    peer: Load | None  # fastapi-users' GET /users/me: SQLite, 1 worker
    refresh: Load
    patch: Load
    login: Load
    verify_seconds: float  # bcrypt: median of one verification, this pass
    ceiling: float  # logins/s: cores / verify_seconds
    health: Load  # probing while the storm logs in
    idle_health: Load  # probing the idle service, in the same pass
    storm: Load
    rss_mb: list[float]


@dataclass
class Run:
    database: str
    workers: int
    passes: list[Pass] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Score:
    value: float
    met: bool
    headline: str
    detail: str


@dataclass(frozen=True)
class Row:
    scenario: str
    target: str
    workers: tuple[int, ...]
    score: Callable[[Pass], Score | None]  # None: not measured in that run
    higher_is_better: bool = True
    peer: bool = False  # measured only beside fastapi-users (SQLite, 1 worker)


def ms(value: float | None) -> str:
    if value is None:
        return "?"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def cpu(load: Load) -> str:
    """Cores per worker, then the database's and Redis's, and what disturbed them."""
    usage = load.usage
    text = " + ".join(f"{c:.2f}" for c in usage.worker_cores)
    text += " (⚠ one worker took nearly all)" if skewed(load) else ""
    text += "".join(f", {n} {c:.2f}" for n, c in usage.service_cores.items() if c >= 0.01)
    if usage.other_load >= 0.05:
        text += f", ⚠ other load {usage.other_load:.0%}"
    return text


def skewed(load: Load) -> bool:
    """With several workers, did one get nearly all the connections?"""
    cores = load.usage.worker_cores
    return len(cores) > 1 and max(cores) > 0.3 and min(cores) < max(cores) / 5


def _ratio(mine: Load, theirs: Load, target: float, fmt: str) -> Score:
    ratio = mine.rate / theirs.rate if theirs.rate else 0.0
    return Score(
        ratio,
        ratio >= target and mine.errors == 0 and theirs.errors == 0,
        fmt.format(ratio),
        f"{mine.rate:,.0f} vs {theirs.rate:,.0f} req/s, p99 {ms(mine.p99_ms)} vs "
        f"{ms(theirs.p99_ms)}, {mine.errors + theirs.errors} errors; "
        f"CPU {cpu(mine)} vs {cpu(theirs)}",
    )


def _login(p: Pass) -> Score:
    ratio = p.login.rate / p.ceiling
    return Score(
        ratio,
        ratio >= 0.90 and p.login.errors == 0,
        f"{ratio:.2f}",
        f"{p.login.rate:.2f} of {p.ceiling:.2f} logins/s (cores / {ms(p.verify_seconds * 1000)}"
        f" per verify), p99 {ms(p.login.p99_ms)}, {p.login.errors} errors; CPU {cpu(p.login)}",
    )


def _write(load: Load, me: Load) -> Score:
    return Score(
        load.rate,
        load.errors == 0,
        f"{load.rate:,.0f} req/s",
        f"{load.rate / me.rate if me.rate else 0:.2f} of /auth/me, p99 {ms(load.p99_ms)}, "
        f"{load.errors} errors; CPU {cpu(load)}",
    )


def _health(p: Pass) -> Score:
    h = p.health
    p99, p50 = h.raw_p99_ms or 0.0, h.raw_p50_ms or 0.0
    return Score(
        p99,
        p99 <= 10.0 and p50 < 20.0 and h.errors == 0,
        f"p99 {ms(p99)}",
        f"p50 {ms(p50)} (wrk-corrected p99 {ms(h.p99_ms)}), {h.rate:,.0f} req/s, {h.errors} "
        f"errors; logins {p.storm.rate:.2f}/s; CPU {cpu(h)}",
    )


HEALTH_RATIO_TARGET = 3.0


def _health_ratio(p: Pass) -> Score:
    """The storm's cost to the probe, whatever the machine: its p99 during the storm
    over its own idle p99, both timed by probe.lua in the same pass."""
    storm, idle = p.health.raw_p99_ms or 0.0, p.idle_health.raw_p99_ms or 0.0
    ratio = storm / idle if idle else float("inf")
    return Score(
        ratio,
        ratio <= HEALTH_RATIO_TARGET and p.health.errors == 0 and p.idle_health.errors == 0,
        f"{ratio:.1f}x",
        f"p99 {ms(storm)} during the storm vs {ms(idle)} idle (p50 "
        f"{ms(p.health.raw_p50_ms)} vs {ms(p.idle_health.raw_p50_ms)})",
    )


def _rss(p: Pass) -> Score:
    worst = max(p.rss_mb)
    return Score(
        worst,
        worst <= 120.0,
        f"{worst:.0f} MB",
        " + ".join(f"{mb:.0f}" for mb in p.rss_mb) + " MB",
    )


ROWS = [
    Row(
        f"GET /auth/me ÷ bare endpoint decoding the same JWT, {ME_CONNECTIONS} connections",
        "≥ 0.60",
        (1, 2),
        lambda p: _ratio(p.me, p.bare, 0.60, "{:.2f}"),
    ),
    Row(
        f"GET /auth/me ÷ fastapi-users 15 GET /users/me, {ME_CONNECTIONS} connections",
        "≥ 2.0x",
        (1,),
        lambda p: _ratio(p.me, p.peer, 2.0, "{:.2f}x") if p.peer else None,
        peer=True,
    ),
    Row(
        f"POST /auth/login ÷ bcrypt ceiling, {LOGIN_CONNECTIONS} connections",
        "≥ 0.90, 0 errors",
        (1, 2),
        _login,
    ),
    Row(
        f"POST /auth/refresh with rotation, {WRITE_CONNECTIONS} connections",
        "0 errors",
        (1, 2),
        lambda p: _write(p.refresh, p.me),
    ),
    Row(
        f"PATCH /auth/me {{name}}, {WRITE_CONNECTIONS} connections",
        "0 errors",
        (1, 2),
        lambda p: _write(p.patch, p.me),
    ),
    Row(
        f"GET /health on {PROBE_CONNECTIONS} keep-alive connections while "
        f"{STORM_CONNECTIONS} log in",
        "p99 ≤ 10 ms (p50 < 20 ms: no delayed-ACK wait)",
        (1, 2),
        _health,
        higher_is_better=False,
    ),
    Row(
        f"GET /health p99 while {STORM_CONNECTIONS} log in ÷ its idle p99, the same pass",
        f"≤ {HEALTH_RATIO_TARGET:.0f}x",
        (1, 2),
        _health_ratio,
        higher_is_better=False,
    ),
    Row("RSS per worker after the pass", "≤ 120 MB", (1, 2), _rss, higher_is_better=False),
]


def _cell(row: Row, run: Run | None, missing: str) -> tuple[str, str]:
    scores = [row.score(p) for p in run.passes] if run else []
    measured = [s for s in scores if s is not None]
    if not measured:
        return missing, "?" if missing != "—" else ""

    def badness(s: Score) -> tuple[bool, float]:
        return (not s.met, -s.value if row.higher_is_better else s.value)

    ordered = sorted(measured, key=badness, reverse=True)
    worst, others = ordered[0], ordered[1:]
    other = f" ({', '.join(s.headline for s in others)})" if others else ""
    return f"**{worst.headline}**{other} — {worst.detail}", "yes" if worst.met else "no"


def render(header: str, runs: Sequence[Run], peer_problem: str | None, notes: Sequence[str]) -> str:
    databases = [d for d in DATABASES if any(r.database == d for r in runs)]
    titles = " | ".join(f"{DATABASES[d]}: worst pass (other) | met" for d in databases)
    lines = [
        header,
        "",
        f"| scenario | workers | target | {titles} |",
        "|---|---|---|" + "---|---|" * len(databases),
    ]
    for row in ROWS:
        for workers in row.workers:
            cells = []
            for database in databases:
                run = next(
                    (r for r in runs if r.database == database and r.workers == workers), None
                )
                missing = "—"
                if row.peer and database == "sqlite" and peer_problem:
                    missing = f"not measured: {peer_problem}"
                cells += _cell(row, run, missing)
            lines.append(f"| {row.scenario} | {workers} | {row.target} | {' | '.join(cells)} |")
    found = [
        f"⚠ {DATABASES[r.database]}, WORKERS={r.workers}: {len(r.log_problems)} error lines "
        f"in the server log, e.g. `{r.log_problems[0][:200]}`"
        for r in runs
        if r.log_problems
    ]
    return "\n".join([*lines, "", *found, *notes]) + "\n"


LEGEND = (
    "Each row is measured in two passes; a cell shows the worse (the other in brackets) "
    "and `met` judges it. Ratios are taken within a pass: /auth/me against the bare "
    "endpoint (bench/bare_app.py, served by the same code with the same workers) and "
    "fastapi-users, logins against the bcrypt ceiling (cores / median verify time, "
    "measured in the pass); logins/s are counted by authapi's /metrics in the steady "
    "middle of the run, without wrk's first second and its end. CPU: cores used by "
    "each worker, then by PostgreSQL's backends and Redis; other load is CPU used "
    "meanwhile by processes the bench did not start. "
    "Percentiles are wrk's (corrected for coordinated omission), except /health's p50 "
    "and p99, which time each request (probe.lua)."
)
