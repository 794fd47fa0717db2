"""GET /metrics as an operator's Prometheus reads it: the series count what happened,
labelled by route template (never the raw path), and nobody else can see it.

The series live in the process (prometheus-client's registry), shared by every app
a test run creates, so each test compares a scrape before and after what it does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, func, select

from api.api_helpers import assert_problem, login
from authapi.models import AuthEvent
from servers import free_port
from support import STRONG_PASSWORD, TEST_SECRET, bearer, signup, unique_email

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
LOOPBACK = ("127.0.0.1", 50000)
PROXY = ("10.0.0.2", 50000)


def scraper(client: TestClient, peer: tuple[str, int] = LOOPBACK) -> TestClient:
    """A client of the same app whose socket peer is `peer` (TestClient's own peer,
    "testclient", is no IP address, so it is never allowed)."""
    return TestClient(client.app, client=peer, raise_server_exceptions=False)


def scrape(client: TestClient) -> Samples:
    response = scraper(client).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, status: int, method: str = "GET") -> float:
    return value(
        samples, "authapi_http_requests_total", method=method, route=route, status=str(status)
    )


def audit_rows(client: TestClient) -> int:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        return session.exec(select(func.count()).select_from(AuthEvent)).one()


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    unknown = f"/no-such-page-{uuid.uuid4().hex}"
    before = scrape(client)

    for user_id in ids:
        assert client.get(f"/api/{user_id}/auth-events").status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get(unknown).status_code == 404
    after = scrape(client)
    text = scraper(client).get("/metrics").text

    template = "/api/{user_id}/auth-events"
    assert requests(after, template, 401) - requests(before, template, 401) == 3
    assert requests(after, "/health", 200) - requests(before, "/health", 200) == 1
    assert requests(after, "unmatched", 404) - requests(before, "unmatched", 404) == 1
    # one scrape before this one, and it was answered
    assert requests(after, "/metrics", 200) - requests(before, "/metrics", 200) == 1
    duration = "authapi_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": template}
    assert value(after, duration, **labels) - value(before, duration, **labels) == 3
    # The raw paths never become labels: the label set stays bounded.
    for user_id in ids:
        assert user_id not in text
    assert unknown not in text


def test_auth_outcomes_and_both_kinds_of_429_are_counted(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_auth="4/minute", login_failure_limit=2)
    email = signup(client)["user"]["email"]
    before = scrape(client)

    assert login(client, email).status_code == 200
    assert login(client, email, "Wrong7Password").status_code == 401
    assert login(client, email, "Wrong7Password").status_code == 401
    assert_problem(login(client, email), 429, "too_many_attempts")  # LOGIN_FAILURE_LIMIT
    assert_problem(login(client, email), 429, "rate_limited")  # the 5th login: RATE_LIMIT_AUTH
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("authapi_auth_events_total", event="login_success") == 1
    assert grew("authapi_auth_events_total", event="login_failure") == 2
    assert grew("authapi_auth_events_total", event="too_many_attempts") == 1
    assert grew("authapi_auth_events_total", event="rate_limited") == 1
    assert grew("authapi_rate_limited_total", limit="account", route="/auth/login") == 1
    assert grew("authapi_rate_limited_total", limit="ip", route="/auth/login") == 1
    assert (
        grew("authapi_http_requests_total", method="POST", route="/auth/login", status="429") == 2
    )


def test_mail_queue_depth_and_failed_attempts(make_client: Callable[..., TestClient]) -> None:
    # Nothing listens on that port: every attempt fails and the mail stays queued.
    client = make_client(
        mail_url=f"smtp://127.0.0.1:{free_port()}",
        mail_retry_seconds=3600,
        rate_limit_auth="1000/minute",
    )
    failures = {"name": "authapi_mail_send_failures_total", "outcome": "retry"}
    before = scrape(client)
    assert value(before, "authapi_mail_queue_depth") == 0
    assert value(before, "authapi_mail_queue_oldest_age_seconds") == 0

    signup(client)
    signup(client)  # two verification mails

    def failed_twice() -> bool:
        now = scrape(client)
        return value(now, **failures) - value(before, **failures) >= 2

    _wait(failed_twice)
    after = scrape(client)
    assert value(after, "authapi_mail_queue_depth") == 2
    assert value(after, "authapi_mail_queue_oldest_age_seconds") >= 0
    assert value(after, **failures) - value(before, **failures) == 2


def test_sent_mail_is_counted(mail_client: TestClient) -> None:
    before = scrape(mail_client)

    signup(mail_client)

    sent = "authapi_mail_sent_total"
    _wait(lambda: value(scrape(mail_client), sent) > value(before, sent))
    after = scrape(mail_client)
    assert value(after, sent) - value(before, sent) == 1
    assert value(after, "authapi_mail_queue_depth") == 0


def test_anyone_else_gets_the_404_of_an_unknown_path(client: TestClient) -> None:
    rows = audit_rows(client)
    unknown = client.get("/no-such-page")

    hidden = client.get("/metrics")  # TestClient's peer is no loopback address

    assert_problem(hidden, 404, "not_found")
    assert hidden.headers.keys() == unknown.headers.keys()
    assert {**hidden.json(), "request_id": None} == {**unknown.json(), "request_id": None}
    # Nor any other method, from an allowed client: there is no such route.
    assert_problem(scraper(client).post("/metrics"), 404, "not_found")
    assert_problem(scraper(client).get("/metrics/"), 404, "not_found")
    assert audit_rows(client) == rows  # a 404 is not an auth event


@pytest.mark.parametrize(
    ("settings", "peer", "forwarded_for", "status"),
    [
        # The proxy is trusted: the client is the address it forwards.
        ({"trusted_proxies": ["10.0.0.0/8"]}, PROXY, "203.0.113.7", 404),
        ({"trusted_proxies": ["10.0.0.0/8"]}, PROXY, "127.0.0.1", 200),
        (
            {"trusted_proxies": ["10.0.0.0/8"], "metrics_allowed_ips": ["203.0.113.0/24"]},
            PROXY,
            "203.0.113.7",
            200,
        ),
        # An untrusted peer cannot claim to be loopback.
        ({}, ("198.51.100.4", 50000), "127.0.0.1", 404),
        # Loopback connects, but the setting allows only a monitoring host.
        ({"metrics_allowed_ips": ["192.0.2.10"]}, LOOPBACK, None, 404),
        ({"metrics_allowed_ips": ["192.0.2.10"]}, ("192.0.2.10", 50000), None, 200),
        ({"metrics_allowed_ips": []}, LOOPBACK, None, 404),
        ({}, ("::1", 50000), None, 200),
    ],
)
def test_metrics_allowed_ips_sees_the_client_ip_as_trusted_proxies_resolve_it(
    make_client: Callable[..., TestClient],
    settings: dict[str, list[str]],
    peer: tuple[str, int],
    forwarded_for: str | None,
    status: int,
) -> None:
    client = make_client(**settings)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}

    response = scraper(client, peer).get("/metrics", headers=headers)

    assert response.status_code == status
    if status == 404:
        assert_problem(response, 404, "not_found")
    else:
        assert "authapi_http_requests_total" in response.text


def test_scrapes_are_not_rate_limited_nor_audited(client: TestClient) -> None:
    rows = audit_rows(client)

    statuses = {scraper(client).get("/metrics").status_code for _ in range(20)}

    assert statuses == {200}  # RATE_LIMIT_AUTH is 5/minute here
    assert audit_rows(client) == rows


def test_the_scrape_carries_no_secret(client: TestClient) -> None:
    email = unique_email("secret")
    token = signup(client, email)["access_token"]
    client.get("/auth/me", headers=bearer(token))
    login(client, email, "Wrong7Password")
    settings = client.app.state.settings  # type: ignore[attr-defined]

    text = scraper(client).get("/metrics").text

    for secret in (email, STRONG_PASSWORD, token, TEST_SECRET, settings.database_url):
        assert secret not in text
    assert "Bearer" not in text


def test_metrics_is_not_part_of_the_api_contract(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_scrape_can_ask_for_openmetrics(client: TestClient) -> None:
    response = scraper(client).get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def _wait(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
