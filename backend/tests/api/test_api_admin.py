"""The /admin API over HTTP, on SQLite and PostgreSQL: who may use it, the users'
console (search, show, create, change, disable, delete), the last admin, the
security log, and impersonation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from api.api_helpers import assert_problem, login, login_token, parse_utc, token_claims
from authapi.models import User
from authapi.services.admin import SHELL_ACTOR
from smtp_sink import Mailbox, link_token
from support import STRONG_PASSWORD, at_once, bearer, signup, unique_email

NEW_PASSWORD = "Fresh7Lantern!"


@pytest.fixture
def app(mail_client: TestClient) -> TestClient:
    """The app mailing over SMTP to the test's `mailbox`, with roomy limits."""
    return mail_client


def set_role(client: TestClient, email: str, role: str) -> None:
    """What `python -m authapi users set-role` does, through the same service."""
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.unit_of_work() as uow:
        container.admin.set_role(uow, SHELL_ACTOR, container.admin.find(uow, email), role)


def make_admin(client: TestClient, name: str = "Admin") -> tuple[str, dict[str, Any]]:
    """A new admin's access token and user object."""
    created = signup(client, email=unique_email("admin"), name=name)
    set_role(client, created["user"]["email"], "admin")
    return created["access_token"], created["user"]


@pytest.fixture
def admin(app: TestClient) -> tuple[str, dict[str, Any]]:
    return make_admin(app)


@pytest.fixture
def admin_token(admin: tuple[str, dict[str, Any]]) -> str:
    return admin[0]


def a(method: str, client: TestClient, path: str, token: str, **kwargs: Any) -> httpx.Response:
    return client.request(method, path, headers=bearer(token), **kwargs)


def events_of(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = a("GET", client, "/admin/auth-events", token, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def engine_of(client: TestClient) -> Any:
    return client.app.state.container.engine  # type: ignore[attr-defined]


# -- who may use it ------------------------------------------------------------------


def admin_operations(client: TestClient) -> Iterator[tuple[str, str]]:
    """Every /admin operation in the OpenAPI document, so a route added later is
    checked without anyone remembering to add it here."""
    for path, item in client.get("/openapi.json").json()["paths"].items():
        if path.startswith("/admin"):
            for method in item:
                yield method.upper(), path.replace("{user_id}", str(uuid.uuid4()))


def test_every_admin_route_is_refused_without_a_token_and_to_a_plain_user(
    app: TestClient,
) -> None:
    operations = list(admin_operations(app))
    assert len(operations) >= 11, operations
    plain = signup(app)["access_token"]

    for method, path in operations:
        anonymous = app.request(method, path, json={})
        assert_problem(anonymous, 401, "token_missing")
        refused = a(method, app, path, plain, json={})
        assert_problem(refused, 403, "forbidden")


def test_an_admin_reads_the_console_and_the_role_is_in_user_objects_and_tokens(
    app: TestClient, admin: tuple[str, dict[str, Any]]
) -> None:
    token, user = admin
    assert user["role"] == "user"  # the signup's answer, before set-role

    me = a("GET", app, "/auth/me", token).json()
    assert me["role"] == "admin"
    assert me["impersonated_by"] is None
    assert a("GET", app, "/admin/users", token).status_code == 200
    # Access tokens carry the role for resource servers, from the next login on.
    fresh = login(app, user["email"]).json()
    assert token_claims(fresh["access_token"])["role"] == "admin"
    assert fresh["user"]["role"] == "admin"


def test_a_demotion_holds_on_the_next_request_on_another_worker(
    app: TestClient, make_client: Callable[..., TestClient]
) -> None:
    """Two apps over one database, as two workers: the role is read with the session
    on every request, not from the token or a cache."""
    other_worker = make_client(rate_limit_auth="1000/minute")
    make_admin(app)  # someone stays admin
    token, user = make_admin(app)
    assert a("GET", other_worker, "/admin/users", token).status_code == 200

    set_role(app, user["email"], "user")

    assert_problem(a("GET", other_worker, "/admin/users", token), 403, "forbidden")
    assert a("GET", other_worker, "/auth/me", token).json()["role"] == "user"


def test_the_role_in_a_refreshed_token_follows_the_database(app: TestClient) -> None:
    created = signup(app)
    set_role(app, created["user"]["email"], "admin")

    refreshed = app.post("/auth/refresh", json={"refresh_token": created["refresh_token"]})

    assert refreshed.status_code == 200, refreshed.text
    assert token_claims(created["access_token"])["role"] == "user"
    assert token_claims(refreshed.json()["access_token"])["role"] == "admin"


# -- search and show -----------------------------------------------------------------


def test_search_matches_an_email_or_a_name_prefix_in_any_case(
    app: TestClient, admin_token: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    ada = signup(app, email=f"ada.{tag}@example.com", name="Zed Lovelace")["user"]
    bob = signup(app, email=f"bob.{tag}@example.com", name=f"Ada{tag} Byron")["user"]
    signup(app, email=f"carol.{tag}@example.com", name="Carol")

    def emails(query: str) -> list[str]:
        response = a("GET", app, "/admin/users", admin_token, params={"query": query})
        assert response.status_code == 200, response.text
        return [item["email"] for item in response.json()["items"]]

    assert emails(f"ADA.{tag}") == [ada["email"]]  # the email, in another case
    assert emails(f"ada{tag}") == [bob["email"]]  # the name, lower-cased
    assert emails(f"bob.{tag}@EXAMPLE.com") == [bob["email"]]
    assert emails(f"lovelace{tag}") == []  # a prefix, not a substring
    item = a("GET", app, "/admin/users", admin_token, params={"query": f"ada.{tag}"}).json()
    assert set(item["items"][0]) >= {"role", "disabled", "disabled_reason", "disabled_until"}


@pytest.mark.parametrize("wildcard", ["%", "_", "\\"])
def test_like_wildcards_in_a_query_are_plain_characters(
    app: TestClient, admin_token: str, wildcard: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    literal = signup(app, name=f"W{wildcard}{tag}")["user"]
    signup(app, name=f"Wx{tag}")

    response = a("GET", app, "/admin/users", admin_token, params={"query": f"w{wildcard}"})

    found = list(response.json()["items"])
    assert literal["email"] in [item["email"] for item in found]
    assert all(item["name"].lower().startswith(f"w{wildcard}") for item in found), found


def test_pages_of_a_search_and_of_the_newest_first_listing_cover_every_user_once(
    app: TestClient, admin_token: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    made = {signup(app, email=f"page{tag}-{n}@example.com")["user"]["email"] for n in range(7)}

    def walk(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {"limit": 3, **params, **({"cursor": cursor} if cursor else {})}
            page = a("GET", app, "/admin/users", admin_token, params=query).json()
            seen += [item["email"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    by_email = walk(query=f"page{tag}")
    assert by_email == sorted(made)
    newest = walk()
    assert made <= set(newest)
    assert len(newest) == len(set(newest))
    ours = [email for email in newest if email in made]
    assert ours == sorted(made, key=lambda e: int(e.split("-")[1].split("@")[0]), reverse=True)


def test_pages_of_a_search_keep_users_who_share_a_name_and_mix_both_kinds_of_match(
    app: TestClient, admin_token: str
) -> None:
    """The order is by the value that matched: an email, or a lower-cased name that
    several users may share (the page after one of them goes on by id)."""
    tag = uuid.uuid4().hex[:8]
    twins = {signup(app, name=f"Twin{tag}")["user"]["email"] for _ in range(5)}
    by_email = signup(app, email=f"twin{tag}b@example.com")["user"]["email"]

    seen: list[str] = []
    cursor = None
    while True:
        query = {"query": f"TWIN{tag}", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = a("GET", app, "/admin/users", admin_token, params=query).json()
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted([*twins, by_email])
    assert seen[-1] == by_email  # "twin<tag>" sorts before "twin<tag>b@..."


def test_show_gives_one_user_and_an_unknown_id_is_404(app: TestClient, admin_token: str) -> None:
    user = signup(app, name="Shown")["user"]

    shown = a("GET", app, f"/admin/users/{user['id']}", admin_token)

    assert shown.status_code == 200
    assert shown.json()["email"] == user["email"]
    assert shown.json()["disabled"] is False
    assert_problem(a("GET", app, f"/admin/users/{uuid.uuid4()}", admin_token), 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [
        {"query": "a\x00b"},
        {"query": "x" * 10_000},
        {"query": ""},
        {"cursor": "not a cursor!"},
        {"cursor": "x" * 201},
        {"cursor": "bm90LWEtY3Vyc29y"},  # base64url, but not one of ours
        {"limit": 0},
        {"limit": 101},
    ],
)
def test_bad_search_input_is_a_422_and_echoes_nothing(
    app: TestClient, admin_token: str, params: dict[str, Any]
) -> None:
    response = a("GET", app, "/admin/users", admin_token, params=params)

    assert_problem(response, 422, "validation_error")
    assert "x" * 100 not in response.text


def test_a_cursor_of_the_listing_is_refused_for_a_search(app: TestClient, admin_token: str) -> None:
    for _ in range(3):
        signup(app)
    listing = a("GET", app, "/admin/users", admin_token, params={"limit": 1}).json()

    mixed = a(
        "GET",
        app,
        "/admin/users",
        admin_token,
        params={"query": "a", "cursor": listing["next_cursor"]},
    )

    assert_problem(mixed, 422, "validation_error")


# -- create and change ---------------------------------------------------------------


def test_a_user_created_without_a_password_sets_one_from_the_mailed_link(
    app: TestClient, mailbox: Mailbox, admin: tuple[str, dict[str, Any]]
) -> None:
    token, admin_user = admin
    email = unique_email("invited")

    created = a("POST", app, "/admin/users", token, json={"email": email, "name": "New"})

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["email"], body["name"], body["role"], body["has_password"]) == (
        email,
        "New",
        "user",
        False,
    )
    link = link_token(mailbox.wait_for(email)[0])
    reset = app.post("/auth/password/reset", json={"token": link, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    assert login(app, email, NEW_PASSWORD).status_code == 200
    rows = events_of(app, token, type="user_created", email=email)
    assert [(row["actor_id"], row["email"]) for row in rows] == [(admin_user["id"], email)]


def test_a_user_created_with_a_password_and_a_role_signs_in(
    app: TestClient, admin_token: str
) -> None:
    email = unique_email("made")
    created = a(
        "POST",
        app,
        "/admin/users",
        admin_token,
        json={"email": email, "password": STRONG_PASSWORD, "role": "admin"},
    )

    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    assert a("GET", app, "/admin/users", login_token(app, email)).status_code == 200
    again = a("POST", app, "/admin/users", admin_token, json={"email": email})
    assert_problem(again, 409, "email_taken")
    weak = a(
        "POST",
        app,
        "/admin/users",
        admin_token,
        json={"email": unique_email(), "password": "short"},
    )
    assert_problem(weak, 422, "weak_password")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": "ok@example.com", "role": "owner"},
        {"email": "ok@example.com", "extra": 1},
        {"email": "ok@example.com", "name": "a\x00b"},
        {"email": "ok@example.com", "password": "x" * 2000},
    ],
)
def test_a_bad_create_body_is_a_422_and_makes_nobody(
    app: TestClient, admin_token: str, body: dict[str, Any]
) -> None:
    before = a("GET", app, "/admin/users", admin_token, params={"query": "ok@example.com"})

    response = a("POST", app, "/admin/users", admin_token, json=body)

    assert_problem(response, 422, "validation_error")
    after = a("GET", app, "/admin/users", admin_token, params={"query": "ok@example.com"})
    assert after.json() == before.json()


def test_patch_changes_the_given_fields_only_and_audits_with_the_actor(
    app: TestClient, admin: tuple[str, dict[str, Any]]
) -> None:
    token, admin_user = admin
    user = signup(app, name="Before")["user"]
    path = f"/admin/users/{user['id']}"

    named = a("PATCH", app, path, token, json={"name": "  After  "})
    verified = a("PATCH", app, path, token, json={"email_verified": True})
    promoted = a("PATCH", app, path, token, json={"role": "admin"})

    assert named.json()["name"] == "After"
    assert verified.json()["email_verified_at"] is not None
    assert verified.json()["name"] == "After"
    assert promoted.json()["role"] == "admin"
    rows = events_of(app, token, email=user["email"])
    assert {row["event_type"] for row in rows} >= {"user_updated", "role_changed"}
    assert {row["actor_id"] for row in rows if row["event_type"] != "signup"} == {admin_user["id"]}
    assert_problem(a("PATCH", app, path, token, json={"role": "root"}), 422, "validation_error")
    assert_problem(a("PATCH", app, path, token, json={"email": "x@y.z"}), 422, "validation_error")


# -- disable, enable, sessions, delete -----------------------------------------------


def test_disable_with_a_reason_revokes_sessions_until_enabled(
    app: TestClient, admin_token: str
) -> None:
    created = signup(app)
    user = created["user"]

    disabled = a(
        "POST",
        app,
        f"/admin/users/{user['id']}/disable",
        admin_token,
        json={"reason": "chargeback"},
    )

    assert disabled.status_code == 204, disabled.text
    assert_problem(a("GET", app, "/auth/me", created["access_token"]), 401, "token_revoked")
    assert_problem(login(app, user["email"]), 401, "invalid_credentials")
    shown = a("GET", app, f"/admin/users/{user['id']}", admin_token).json()
    assert (shown["disabled"], shown["disabled_reason"], shown["disabled_until"]) == (
        True,
        "chargeback",
        None,
    )

    enabled = a("POST", app, f"/admin/users/{user['id']}/enable", admin_token)

    assert enabled.status_code == 204
    assert login(app, user["email"]).status_code == 200
    shown = a("GET", app, f"/admin/users/{user['id']}", admin_token).json()
    assert (shown["disabled"], shown["disabled_reason"]) == (False, None)


def test_a_disable_with_an_end_ends_by_itself(app: TestClient, admin_token: str) -> None:
    """The end is a time in the database: the test moves it into the past, as the
    clock passing it would, and nothing has to run for the account to come back."""
    user = signup(app)["user"]
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    a(
        "POST",
        app,
        f"/admin/users/{user['id']}/disable",
        admin_token,
        json={"until": until.isoformat()},
    )
    shown = a("GET", app, f"/admin/users/{user['id']}", admin_token).json()
    assert parse_utc(shown["disabled_until"]) == until
    assert_problem(login(app, user["email"]), 401, "invalid_credentials")

    with Session(engine_of(app)) as session:
        session.execute(
            update(User)
            .where(User.id == uuid.UUID(user["id"]))  # type: ignore[arg-type]
            .values(disabled_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()

    back = login(app, user["email"])
    assert back.status_code == 200, back.text
    assert a("GET", app, "/auth/me", back.json()["access_token"]).status_code == 200
    refreshed = app.post("/auth/refresh", json={"refresh_token": back.json()["refresh_token"]})
    assert refreshed.status_code == 200
    assert a("GET", app, f"/admin/users/{user['id']}", admin_token).json()["disabled"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"until": "2020-01-01T00:00:00Z"},  # in the past
        {"until": "2030-01-01T00:00:00"},  # no offset
        {"until": "tomorrow"},
        {"reason": "x" * 201},
        {"reason": "a\x00b"},
        {"why": "typo"},
    ],
)
def test_a_bad_disable_is_a_422_and_changes_nothing(
    app: TestClient, admin_token: str, body: dict[str, Any]
) -> None:
    created = signup(app)

    response = a(
        "POST", app, f"/admin/users/{created['user']['id']}/disable", admin_token, json=body
    )

    assert_problem(response, 422, "validation_error")
    assert a("GET", app, "/auth/me", created["access_token"]).status_code == 200


def test_revoke_sessions_logs_the_user_out_everywhere(app: TestClient, admin_token: str) -> None:
    created = signup(app)
    second = login_token(app, created["user"]["email"])

    revoked = a("POST", app, f"/admin/users/{created['user']['id']}/revoke-sessions", admin_token)

    assert revoked.status_code == 204
    for token in (created["access_token"], second):
        assert_problem(a("GET", app, "/auth/me", token), 401, "token_revoked")
    assert login(app, created["user"]["email"]).status_code == 200


def test_delete_erases_the_user_and_keeps_the_trail_without_the_email(
    app: TestClient, admin: tuple[str, dict[str, Any]]
) -> None:
    token, admin_user = admin
    user = signup(app)["user"]

    deleted = a("DELETE", app, f"/admin/users/{user['id']}", token)

    assert deleted.status_code == 204
    assert_problem(a("GET", app, f"/admin/users/{user['id']}", token), 404, "not_found")
    trail = a("GET", app, f"/admin/users/{user['id']}/auth-events", token)
    assert trail.status_code == 404  # the user is gone; the security log still has it
    rows = events_of(app, token, type="account_deleted")
    mine = [row for row in rows if row["actor_id"] == admin_user["id"]]
    assert mine
    assert mine[0]["email"] is None
    assert [row for row in events_of(app, token) if row["email"] == user["email"]] == []
    assert_problem(login(app, user["email"]), 401, "invalid_credentials")


# -- the last admin ------------------------------------------------------------------


def only_admin(make_client: Callable[..., TestClient], mailbox: Mailbox) -> tuple[TestClient, str]:
    """A database with exactly one admin (the test databases are shared)."""
    client = make_client(mail_url=mailbox.url, rate_limit_auth="1000/minute")
    with Session(engine_of(client)) as session:
        session.execute(update(User).values(role="user"))
        session.commit()
    token, _ = make_admin(client)
    return client, token


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    client, token = only_admin(make_client, mailbox)
    me = a("GET", client, "/auth/me", token).json()
    path = f"/admin/users/{me['id']}"

    assert_problem(a("PATCH", client, path, token, json={"role": "user"}), 409, "last_admin")
    assert_problem(a("POST", client, f"{path}/disable", token), 409, "last_admin")
    assert_problem(a("DELETE", client, path, token), 409, "last_admin")
    deleting_self = client.post(
        "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )
    assert_problem(deleting_self, 409, "last_admin")
    assert a("GET", client, "/auth/me", token).json()["role"] == "admin"

    second, _ = make_admin(client)
    demoted = a("PATCH", client, path, token, json={"role": "user"})
    assert demoted.status_code == 200, demoted.text
    assert a("GET", client, "/admin/users", second).status_code == 200


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    make_client: Callable[..., TestClient], mailbox: Mailbox
) -> None:
    client, first = only_admin(make_client, mailbox)
    second, second_user = make_admin(client)
    first_user = a("GET", client, "/auth/me", first).json()

    def demote(token: str, target: dict[str, Any]) -> Callable[[], int]:
        path = f"/admin/users/{target['id']}"
        return lambda: a("PATCH", client, path, token, json={"role": "user"}).status_code

    answers = at_once(demote(first, second_user), demote(second, first_user))

    # The loser is refused (409), or found itself demoted first (403).
    winner, loser = sorted(answers)
    assert winner == 200, answers
    assert loser in (403, 409), answers
    roles = [a("GET", client, "/auth/me", token).json()["role"] for token in (first, second)]
    assert sorted(roles) == ["admin", "user"]


# -- the security log ----------------------------------------------------------------


def test_a_users_trail_and_the_security_log_filtered(
    app: TestClient, admin: tuple[str, dict[str, Any]]
) -> None:
    token, _ = admin
    start = datetime.now(UTC) - timedelta(seconds=1)
    created = signup(app)
    email = created["user"]["email"]
    login(app, email, "Wrong-password-1")
    login(app, email)

    trail = a("GET", app, f"/admin/users/{created['user']['id']}/auth-events", token).json()
    assert [row["event_type"] for row in trail["items"]] == [
        "login_success",
        "login_failure",
        "signup",
    ]
    failures = events_of(app, token, type="login_failure", email=email.upper())
    assert [row["email"] for row in failures] == [email]
    by_ip = events_of(app, token, ip="testclient"[:0] or "127.0.0.1")
    assert all(row["ip_address"] == "127.0.0.1" for row in by_ip)
    recent = events_of(app, token, since=start.isoformat(), email=email)
    assert len(recent) == 3
    later = events_of(app, token, since=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert later == []


@pytest.mark.parametrize(
    "params",
    [
        {"type": "DROP TABLE"},
        {"type": "x" * 33},
        {"ip": "not an ip"},
        {"email": "a\x00@example.com"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"cursor": "%%%"},
    ],
)
def test_bad_security_log_filters_are_a_422(
    app: TestClient, admin_token: str, params: dict[str, Any]
) -> None:
    assert_problem(
        a("GET", app, "/admin/auth-events", admin_token, params=params), 422, "validation_error"
    )


# -- impersonation -------------------------------------------------------------------


def test_impersonation_is_a_marked_hour_without_refresh_audited_on_both_users(
    app: TestClient, admin: tuple[str, dict[str, Any]]
) -> None:
    token, admin_user = admin
    user = signup(app, name="Seen")["user"]

    started = a("POST", app, f"/admin/users/{user['id']}/impersonate", token)

    assert started.status_code == 200, started.text
    body = started.json()
    assert body["refresh_token"] is None
    assert 0 < body["expires_in"] <= 3600
    assert started.headers["cache-control"] == "no-store"
    claims = token_claims(body["access_token"])
    assert (claims["sub"], claims["act"]) == (user["id"], {"sub": admin_user["id"]})
    me = a("GET", app, "/auth/me", body["access_token"]).json()
    assert (me["email"], me["impersonated_by"]) == (user["email"], admin_user["id"])
    sessions = a("GET", app, "/auth/sessions", body["access_token"]).json()
    assert [row["current"] for row in sessions] == [True, False]
    ends = parse_utc(sessions[0]["expires_at"]) - parse_utc(sessions[0]["created_at"])
    assert ends <= timedelta(hours=1)
    theirs = a("GET", app, f"/admin/users/{user['id']}/auth-events", token).json()["items"]
    assert (theirs[0]["event_type"], theirs[0]["actor_id"]) == (
        "impersonation_started",
        admin_user["id"],
    )
    mine = a("GET", app, f"/admin/users/{admin_user['id']}/auth-events", token).json()["items"]
    assert (mine[0]["event_type"], mine[0]["email"]) == ("impersonated", user["email"])


def test_an_impersonated_session_cannot_change_how_the_account_signs_in(
    app: TestClient, admin_token: str
) -> None:
    created = signup(app)
    user = created["user"]
    token = a("POST", app, f"/admin/users/{user['id']}/impersonate", admin_token).json()[
        "access_token"
    ]

    for method, path, body in [
        (
            "POST",
            "/auth/password/change",
            {"password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        ),
        ("POST", "/auth/email/change", {"password": STRONG_PASSWORD, "new_email": unique_email()}),
        ("POST", "/auth/me/delete", {"password": STRONG_PASSWORD}),
        ("POST", "/auth/logout-all", None),
        ("POST", "/auth/mfa/totp/setup", {"password": STRONG_PASSWORD}),
        ("POST", "/auth/passkeys/register/options", {"password": STRONG_PASSWORD}),
        ("DELETE", f"/auth/identities/{uuid.uuid4()}", None),
    ]:
        response = a(method, app, path, token, json=body)
        assert_problem(response, 403, "impersonation_forbidden")
    assert a("GET", app, "/auth/me", created["access_token"]).status_code == 200
    assert login(app, user["email"]).status_code == 200
    # Logging the impersonation itself out is allowed, and ends it.
    assert a("POST", app, "/auth/logout", token).status_code == 204
    assert_problem(a("GET", app, "/auth/me", token), 401, "token_revoked")


def test_an_admin_cannot_be_impersonated_and_an_impersonation_is_no_admin(
    app: TestClient, admin_token: str
) -> None:
    _, other_admin = make_admin(app)
    refused = a("POST", app, f"/admin/users/{other_admin['id']}/impersonate", admin_token)
    assert_problem(refused, 403, "forbidden")

    user = signup(app)["user"]
    token = a("POST", app, f"/admin/users/{user['id']}/impersonate", admin_token).json()[
        "access_token"
    ]
    set_role(app, user["email"], "admin")  # promoted while impersonated
    assert_problem(a("GET", app, "/admin/users", token), 403, "forbidden")


def test_an_impersonation_ends_with_the_users_sessions_and_not_of_a_disabled_user(
    app: TestClient, admin_token: str
) -> None:
    user = signup(app)["user"]
    token = a("POST", app, f"/admin/users/{user['id']}/impersonate", admin_token).json()[
        "access_token"
    ]

    a("POST", app, f"/admin/users/{user['id']}/revoke-sessions", admin_token)

    assert_problem(a("GET", app, "/auth/me", token), 401, "token_revoked")
    a("POST", app, f"/admin/users/{user['id']}/disable", admin_token)
    refused = a("POST", app, f"/admin/users/{user['id']}/impersonate", admin_token)
    assert_problem(refused, 409, "user_disabled")
    unknown = a("POST", app, f"/admin/users/{uuid.uuid4()}/impersonate", admin_token)
    assert_problem(unknown, 404, "not_found")
