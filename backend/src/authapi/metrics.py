"""Prometheus metrics: the series, the middleware that counts requests, and `/metrics`.

With several workers (`WORKERS>1`) each process writes its samples to files in
`PROMETHEUS_MULTIPROC_DIR` (serving.py sets it up before the workers import this
module) and a scrape, answered by any one worker, adds up the files of all of them.
With one process and no such directory the library's own registry is used.

Labels are bounded by construction: a route's template (never the raw path), a
known method, a status code, an audit event type, a limit kind, an outcome.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence

import anyio.to_thread
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authapi.client_address import resolve_client_ip
from authapi.config import IPNetwork
from authapi.db import read_session
from authapi.errors import PROBLEM_JSON, InternalError, problem_body
from authapi.models.base import utcnow
from authapi.repositories import outbox

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # no route: unknown paths (a stray slash too), CORS preflights
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# `*_created` samples exist only with one process; without them a scrape shows the
# same series whatever WORKERS is.
disable_created_metrics()  # type: ignore[no-untyped-call]
if os.environ.get(MULTIPROC_ENV):
    # The series below open their sample files there as they are defined: an
    # operator's directory that does not exist yet must not stop every command.
    os.makedirs(os.environ[MULTIPROC_ENV], mode=0o700, exist_ok=True)

HTTP_REQUESTS = Counter(
    "authapi_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "authapi_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template.",
    ["method", "route"],
)
HTTP_IN_PROGRESS = Gauge(
    "authapi_http_requests_in_progress",
    "Requests being answered now (summed over the live workers).",
    multiprocess_mode="livesum",
)
AUTH_EVENTS = Counter(
    "authapi_auth_events",
    "Audit events recorded, by type: logins, failures, rejected tokens, limits...",
    ["event"],
)
RATE_LIMITED = Counter(
    "authapi_rate_limited",
    "429 answers, by limit (ip: RATE_LIMIT_AUTH; account: LOGIN_FAILURE_LIMIT) and route.",
    ["limit", "route"],
)
MAIL_RATE_LIMITED = Counter(
    "authapi_mail_rate_limited",
    "Link mails not queued because the address reached MAIL_RATE_LIMIT, by kind.",
    ["kind"],
)
MAIL_SENT = Counter("authapi_mail_sent", "Mails accepted by the mail server.")
MAIL_SEND_FAILURES = Counter(
    "authapi_mail_send_failures",
    "Failed delivery attempts, by outcome (retry later, or gave up on the message).",
    ["outcome"],
)

_LIMIT_KINDS = {"rate_limited": "ip", "too_many_attempts": "account"}


def route_label(scope: Scope) -> str:
    """The matched route's template (`/api/{user_id}/auth-events`); never the path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED


def count_rate_limited(code: str, scope: Scope) -> None:
    """A 429 answer (handlers.problem_response), by which limit refused it."""
    limit = _LIMIT_KINDS.get(code)
    if limit is not None:
        RATE_LIMITED.labels(limit, route_label(scope)).inc()


class MailQueueCollector:
    """The outbox read at scrape time: one indexed count, so nothing has to keep a
    gauge in step with inserts and deliveries across processes and instances."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        try:
            with read_session(self._engine) as session:
                depth, oldest = outbox.queue_stats(session)
        except SQLAlchemyError:
            logger.warning("metrics: the mail queue could not be read (database unavailable)")
            return
        yield GaugeMetricFamily(
            "authapi_mail_queue_depth", "Mails queued and not sent yet.", value=depth
        )
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "authapi_mail_queue_oldest_age_seconds",
            "Age of the oldest queued mail (0 when the queue is empty).",
            value=max(age, 0.0),
        )


def render(extra: Sequence[Collector], accept: str) -> tuple[bytes, str]:
    """The scrape body and its content type (OpenMetrics when the scraper asks)."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


def is_allowed(address: str, allowed: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in allowed)


class MetricsMiddleware:
    """Counts and times every HTTP request, and answers `GET /metrics` to the allowed
    clients. Everyone else's request goes on to the app, where no such route exists:
    they get the very 404 of an unknown path, and learn nothing.

    Pure ASGI and outermost (CORS preflights and last-resort 500s count too); per
    request it costs a clock read, a dict lookup and three sample updates.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: Engine,
        allowed: Sequence[IPNetwork],
        trusted_proxies: Sequence[IPNetwork],
    ) -> None:
        self.app = app
        self._collectors: list[Collector] = [MailQueueCollector(engine)]
        self._allowed = list(allowed)
        self._trusted = list(trusted_proxies)
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: the app raised before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scrape = scope["path"] == METRICS_PATH and scope["method"] == "GET" and self._allows(scope)
        HTTP_IN_PROGRESS.inc()
        try:
            if scrape:
                await self._scrape(scope, send_with_status)
            else:
                await self.app(scope, receive, send_with_status)
        finally:
            HTTP_IN_PROGRESS.dec()
            route = METRICS_PATH if scrape else route_label(scope)
            self._observe(scope["method"], route, status, time.perf_counter() - started)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        counter = self._requests.get((method, route, status))
        if counter is None:
            counter = self._requests.setdefault(
                (method, route, status), HTTP_REQUESTS.labels(method, route, str(status))
            )
        histogram = self._durations.get((method, route))
        if histogram is None:
            histogram = self._durations.setdefault(
                (method, route), HTTP_DURATION.labels(method, route)
            )
        counter.inc()
        histogram.observe(seconds)

    def _allows(self, scope: Scope) -> bool:
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded = Headers(scope=scope).get("x-forwarded-for")
        return is_allowed(resolve_client_ip(peer, forwarded, self._trusted), self._allowed)

    async def _scrape(self, scope: Scope, send: Send) -> None:
        accept = Headers(scope=scope).get("accept", "")
        try:
            # The mail queue is a database read: off the event loop.
            body, content_type = await anyio.to_thread.run_sync(render, self._collectors, accept)
            status = 200
        except Exception:
            logger.exception("metrics: the scrape failed")
            request_id = scope.get("state", {}).get("request_id")
            body = json.dumps(problem_body(InternalError(), request_id)).encode()
            content_type, status = PROBLEM_JSON, 500
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
