"""GET /api/{user_id}/auth-events: the user's own audit trail, newest first, paged."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import (
    TEST_CLIENT_IP,
    assert_problem,
    auth_events,
    login,
    login_token,
    parse_utc,
)
from support import STRONG_PASSWORD, bearer, signup, unique_email

USER_AGENT = "audit-test-agent/3.1 (pytest)"
EVENT_KEYS = {
    "id",
    "actor_id",
    "event_type",
    "reason",
    "email",
    "ip_address",
    "user_agent",
    "request_id",
    "created_at",
    "count",
}


def all_events(client: TestClient, user_id: str, token: str) -> list[dict[str, Any]]:
    response = auth_events(client, user_id, token, limit=100)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


def test_events_record_signup_login_failure_success_and_logout(client: TestClient) -> None:
    """Each outcome leaves a row with who, from where, and which request."""
    email = unique_email("audit")
    ua = {"User-Agent": USER_AGENT}
    signed_up = client.post(
        "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}, headers=ua
    )
    user_id = signed_up.json()["user"]["id"]
    failed = login(client, email, "Wrong7Password!", headers=ua)
    assert failed.status_code == 401
    logged_in = login(client, email, headers=ua)
    logged_out = client.post(
        "/auth/logout", headers={**ua, **bearer(signed_up.json()["access_token"])}
    )
    assert logged_out.status_code == 204

    events = all_events(client, user_id, logged_in.json()["access_token"])

    expected = [
        ("logout", None, logged_out),
        ("login_success", None, logged_in),
        ("login_failure", "bad_password", failed),
        ("signup", None, signed_up),
    ]
    assert [event["event_type"] for event in events] == [kind for kind, _, _ in expected]
    for event, (_kind, reason, response) in zip(events, expected, strict=True):
        assert set(event) == EVENT_KEYS
        assert event["reason"] == reason
        assert event["email"] == email
        assert event["ip_address"] == TEST_CLIENT_IP
        assert event["user_agent"] == USER_AGENT
        assert event["request_id"] == response.headers["X-Request-ID"]
        assert event["count"] == 1  # what a real user did is a row of its own
        uuid.UUID(event["id"])
        parse_utc(event["created_at"])


def test_event_records_the_socket_peer_not_a_forwarded_header(client: TestClient) -> None:
    """With no trusted proxies, X-Forwarded-For is the client's claim and is ignored."""
    created = signup(client)
    remote = TestClient(client.app, client=("203.0.113.9", 51000))
    response = login(remote, created["user"]["email"], headers={"X-Forwarded-For": "198.51.100.1"})
    assert response.status_code == 200, response.text

    newest = all_events(client, created["user"]["id"], created["access_token"])[0]

    assert newest["event_type"] == "login_success"
    assert newest["ip_address"] == "203.0.113.9"


def test_failed_login_event_survives_the_failed_request(client: TestClient) -> None:
    """The 401's transaction is rolled back; its audit row must still be there."""
    created = signup(client)
    failed = login(client, created["user"]["email"], "Wrong7Password!")
    assert_problem(failed, 401, "invalid_credentials")

    events = all_events(client, created["user"]["id"], created["access_token"])

    failures = [event for event in events if event["event_type"] == "login_failure"]
    assert len(failures) == 1
    assert failures[0]["reason"] == "bad_password"
    assert failures[0]["request_id"] == failed.headers["X-Request-ID"]


def test_events_keep_an_incoming_request_id(client: TestClient) -> None:
    created = signup(client)

    response = login(client, created["user"]["email"], headers={"X-Request-ID": "trace-42.a:b"})

    assert response.headers["X-Request-ID"] == "trace-42.a:b"
    newest = all_events(client, created["user"]["id"], created["access_token"])[0]
    assert (newest["event_type"], newest["request_id"]) == ("login_success", "trace-42.a:b")


def test_events_newest_first(client: TestClient) -> None:
    created = signup(client)
    login_token(client, created["user"]["email"])

    events = all_events(client, created["user"]["id"], created["access_token"])

    times = [parse_utc(event["created_at"]) for event in events]
    assert times == sorted(times, reverse=True)
    assert [event["event_type"] for event in events] == ["login_success", "signup"]


def test_events_are_only_the_callers_own(client: TestClient) -> None:
    mine = signup(client)
    theirs = signup(client)
    login(client, theirs["user"]["email"], "Wrong7Password!")

    events = all_events(client, mine["user"]["id"], mine["access_token"])

    assert [event["event_type"] for event in events] == ["signup"]
    assert {event["email"] for event in events} == {mine["user"]["email"]}


def test_cursor_pagination_walks_every_event_once(roomy_client: TestClient) -> None:
    created = signup(roomy_client)
    user_id, token = created["user"]["id"], created["access_token"]
    for _ in range(6):
        login_token(roomy_client, created["user"]["email"])
    everything = all_events(roomy_client, user_id, token)
    assert len(everything) == 7

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        response = auth_events(roomy_client, user_id, token, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 3
        seen.extend(event["id"] for event in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"

    assert pages == 3
    assert len(seen) == len(set(seen)), "no event appears twice"
    assert seen == [event["id"] for event in everything], "pages keep newest-first order"


def test_limit_caps_the_page_and_offers_a_cursor(roomy_client: TestClient) -> None:
    created = signup(roomy_client)
    login_token(roomy_client, created["user"]["email"])

    response = auth_events(roomy_client, created["user"]["id"], created["access_token"], limit=1)

    assert response.status_code == 200, response.text
    body = response.json()
    assert [event["event_type"] for event in body["items"]] == ["login_success"]
    assert isinstance(body["next_cursor"], str)
    assert body["next_cursor"]


def test_last_page_has_null_cursor(client: TestClient) -> None:
    created = signup(client)

    response = auth_events(client, created["user"]["id"], created["access_token"], limit=1)

    body = response.json()
    assert [event["event_type"] for event in body["items"]] == ["signup"]
    assert body["next_cursor"] is None


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(client: TestClient, limit: int) -> None:
    created = signup(client)

    response = auth_events(client, created["user"]["id"], created["access_token"], limit=limit)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_limit_out_of_range_is_422(client: TestClient, limit: str) -> None:
    created = signup(client)

    response = auth_events(client, created["user"]["id"], created["access_token"], limit=limit)

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["limit"]


def _cursor(created_at: str) -> str:
    """A cursor in the shape the service hands out, around any time."""
    raw = f"{created_at}|{uuid.UUID(int=0).hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!!", id="not-base64"),
        pytest.param("bm90LWEtY3Vyc29y", id="base64-of-nonsense"),
        # base64 of "2025-01-01T00:00:00+00:00|not-a-uuid": the right shape, a bad id
        pytest.param("MjAyNS0wMS0wMVQwMDowMDowMCswMDowMHxub3QtYS11dWlk", id="time-then-non-uuid"),
        # Well-formed times that have no UTC (before year 1, after 9999): once a 500
        pytest.param(_cursor("0001-01-01T00:00:00+05:00"), id="time-before-year-1-in-utc"),
        pytest.param(_cursor("9999-12-31T23:59:59-05:00"), id="time-after-9999-in-utc"),
        pytest.param("\u0000", id="nul"),
        pytest.param("é" * 200, id="non-ascii"),
    ],
)
def test_garbage_cursor_is_422(client: TestClient, cursor: str) -> None:
    created = signup(client)

    response = auth_events(client, created["user"]["id"], created["access_token"], cursor=cursor)

    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["cursor"]


def test_another_users_events_are_403(client: TestClient) -> None:
    mine = signup(client)
    theirs = signup(client)

    response = auth_events(client, theirs["user"]["id"], mine["access_token"])

    assert_problem(response, 403, "forbidden")
    assert theirs["user"]["email"] not in response.text


def test_unknown_user_id_is_403_not_404(client: TestClient) -> None:
    """Whether some other id exists is none of the caller's business."""
    mine = signup(client)

    response = auth_events(client, str(uuid.uuid4()), mine["access_token"])

    assert_problem(response, 403, "forbidden")


def test_non_uuid_user_id_is_422(client: TestClient) -> None:
    mine = signup(client)

    response = client.get("/api/not-a-uuid/auth-events", headers=bearer(mine["access_token"]))

    body = assert_problem(response, 422, "validation_error")
    assert {error["field"] for error in body["errors"]} == {"user_id"}


def test_events_without_token_is_401(client: TestClient) -> None:
    user_id = signup(client)["user"]["id"]

    response = client.get(f"/api/{user_id}/auth-events")

    assert_problem(response, 401, "token_missing")
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "items" not in response.text


def test_events_with_revoked_token_is_401(client: TestClient) -> None:
    created = signup(client)
    assert client.post("/auth/logout", headers=bearer(created["access_token"])).status_code == 204

    response = auth_events(client, created["user"]["id"], created["access_token"])

    assert_problem(response, 401, "token_revoked")
