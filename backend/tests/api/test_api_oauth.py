"""Social sign-in against an OpenID Connect provider the tests run on a loopback port
and can tell to misbehave (fake_idp.ControlledIdp): every check a relying party must
pass, the state's rules, the linking rules, and the one-time code's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.api_helpers import assert_problem, assert_user, login
from api.oauth_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    RETURN_PAGE,
    SPA,
    come_back,
    exchange,
    local,
    oauth_client,
    provider_env,
    query,
    signed_in,
    start,
    trip,
)
from api.test_api_account import NEW_PASSWORD, reset_token
from api.test_api_mfa import enrol
from authapi.models import AuthEvent, Identity, OAuthFlow, User
from authapi.models.base import utcnow
from fake_idp import MISBEHAVIOURS, ControlledIdp
from smtp_sink import Mailbox
from soft_authenticator import SoftAuthenticator
from support import STRONG_PASSWORD, bearer, signup, unique_email


@pytest.fixture(scope="module")
def running_idp() -> Iterator[ControlledIdp]:
    """One server for the module: starting one (an RSA key, uvicorn's start and stop)
    costs more than most of these tests."""
    with ControlledIdp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture
def idp(running_idp: ControlledIdp) -> ControlledIdp:
    running_idp.reset()
    return running_idp


@pytest.fixture
def app_client(
    idp: ControlledIdp, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    provider_env(monkeypatch, "idp", issuer=idp.issuer, name="Test IdP")
    return oauth_client(make_client, "idp")


def as_user(idp: ControlledIdp, email: str | None, verified: bool = True, sub: str = "") -> None:
    idp.user = {"sub": sub or f"sub-{email}", "email": email, "email_verified": verified}
    if email is None:
        del idp.user["email"]


def users_named(client: TestClient, email: str) -> list[User]:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        return list(session.exec(select(User).where(User.email == email)).all())


def events(client: TestClient, *types: str) -> list[AuthEvent]:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(AuthEvent)
            .where(col(AuthEvent.event_type).in_(types))
            .order_by(col(AuthEvent.created_at))
        )
        return list(rows.all())


def user_count(client: TestClient) -> int:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        return len(session.exec(select(User)).all())


# --- the whole way, and what it leaves ----------------------------------------------


def test_providers_are_listed_for_buttons(app_client: TestClient) -> None:
    response = app_client.get("/auth/oauth/providers")
    assert response.status_code == 200
    assert response.json() == [{"id": "idp", "name": "Test IdP"}]


def test_a_first_sign_in_makes_an_account_with_no_password(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("social")
    as_user(idp, email)

    the_trip = trip(app_client, "idp", idp.browser_step)
    body = signed_in(app_client, the_trip)

    assert_user(body["user"], email)
    assert body["user"]["has_password"] is False
    assert body["user"]["email_verified_at"] is not None
    me = app_client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == email
    # No token in any URL: the provider's page, the callback and the landing page.
    for url in (the_trip.provider_url, the_trip.callback_url, the_trip.landing):
        assert body["access_token"] not in url
        assert body["refresh_token"] not in url
    assert set(the_trip.result) == {"code"}
    kinds = [event.event_type for event in events(app_client, "oauth_signup", "identity_linked")]
    assert sorted(kinds) == ["identity_linked", "oauth_signup"]
    # The request to the provider: PKCE S256, a state and a nonce of this flow.
    asked = query(the_trip.provider_url)
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert asked["state"]
    assert asked["nonce"]
    assert asked["client_id"] == CLIENT_ID


def test_the_next_sign_in_finds_the_same_account(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("again")
    as_user(idp, email)
    first = signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    second = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert first["user"]["id"] == second["user"]["id"]
    assert len(users_named(app_client, email)) == 1
    assert [e.event_type for e in events(app_client, "oauth_login")] == ["oauth_login"]


def test_an_account_without_a_password_sets_one_by_the_reset_link_before_it_confirms(
    idp: ControlledIdp,
    mailbox: Mailbox,
    make_client: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Enrolling a second factor, changing the address or deleting the account asks
    for the password: an account that has none is told so, not "wrong password",
    and the reset link (which proves the mailbox) gives it one."""
    provider_env(monkeypatch, "idp", issuer=idp.issuer)
    client = oauth_client(make_client, "idp", mail_url=mailbox.url)
    email = unique_email("nopassword")
    as_user(idp, email)
    token = signed_in(client, trip(client, "idp", idp.browser_step))["access_token"]
    auth = bearer(token)

    confirmations = [
        ("/auth/mfa/totp/setup", {"password": STRONG_PASSWORD}),
        ("/auth/me/delete", {"password": STRONG_PASSWORD}),
        ("/auth/email/change", {"new_email": unique_email("other"), "password": STRONG_PASSWORD}),
        (
            "/auth/password/change",
            {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        ),
    ]
    for path, payload in confirmations:
        assert_problem(client.post(path, json=payload, headers=auth), 400, "password_not_set")
    assert client.get("/auth/me", headers=auth).status_code == 200  # nothing was deleted
    assert events(client, "login_failure") == []  # and nothing counted as a wrong guess

    assert (
        client.post(
            "/auth/password/reset",
            json={"token": reset_token(client, mailbox, email), "new_password": NEW_PASSWORD},
        ).status_code
        == 204
    )
    fresh = bearer(login(client, email, NEW_PASSWORD).json()["access_token"])
    assert client.get("/auth/me", headers=fresh).json()["has_password"] is True
    setup = client.post("/auth/mfa/totp/setup", json={"password": NEW_PASSWORD}, headers=fresh)
    assert setup.status_code == 200, setup.text


def test_the_client_authenticates_with_basic_auth_by_default(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    as_user(idp, unique_email("basic"))
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    assert idp.token_requests[-1]["auth_method"] == "client_secret_basic"


def test_the_one_time_code_works_once(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("once"))
    code = trip(app_client, "idp", idp.browser_step).result["code"]

    assert exchange(app_client, code).status_code == 200
    assert_problem(exchange(app_client, code), 400, "oauth_code_invalid")
    assert_problem(exchange(app_client, "x" * 43), 400, "oauth_code_invalid")


def test_an_expired_code_is_refused(app_client: TestClient, idp: ControlledIdp) -> None:
    from authapi.models import Link

    as_user(idp, unique_email("late"))
    code = trip(app_client, "idp", idp.browser_step).result["code"]
    with Session(app_client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(Link).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()

    assert_problem(exchange(app_client, code), 400, "oauth_code_invalid")


# --- what a certified relying party refuses -----------------------------------------

# Every way the controlled provider can misbehave but the one a client must accept.
REFUSED = sorted(MISBEHAVIOURS - {"rotated_kid"})


@pytest.mark.parametrize("misbehaviour", REFUSED)
def test_a_bad_id_token_ends_in_oauth_failed_and_no_account(
    app_client: TestClient, idp: ControlledIdp, misbehaviour: str
) -> None:
    email = unique_email("refused")
    as_user(idp, email)
    idp.misbehave = misbehaviour

    the_trip = trip(app_client, "idp", idp.browser_step)

    assert the_trip.result == {"error": "oauth_failed"}
    assert users_named(app_client, email) == []
    assert user_count(app_client) == 0
    failed = events(app_client, "oauth_failed")
    assert len(failed) == 1
    assert (failed[0].reason or "").startswith("idp:")


def test_an_unknown_key_is_fetched_once_then_refused(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    as_user(idp, unique_email("kid"))
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    fetched = idp.jwks_fetches
    idp.misbehave = "unknown_kid"

    assert trip(app_client, "idp", idp.browser_step).result == {"error": "oauth_failed"}
    assert idp.jwks_fetches == fetched + 1


def test_a_rotated_key_is_picked_up(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("rotated"))
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    idp.misbehave = "rotated_kid"

    signed_in(app_client, trip(app_client, "idp", idp.browser_step))


# --- the state, the browser and redirect_to -----------------------------------------


def test_a_state_used_twice_is_refused(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("twice"))
    the_trip = trip(app_client, "idp", idp.browser_step)
    assert "code" in the_trip.result

    again = come_back(app_client, the_trip.callback_url)
    assert query(again) == {"error": "oauth_state_invalid"}


def test_a_state_from_another_browser_is_refused(
    app_client: TestClient, idp: ControlledIdp, make_client: Callable[..., TestClient]
) -> None:
    """Login CSRF: an attacker's own flow, finished in the victim's browser."""
    as_user(idp, unique_email("csrf"))
    provider_url = start(app_client, "idp")
    import httpx

    with httpx.Client() as browser:
        callback_url = idp.browser_step(browser, provider_url)
    app_client.cookies.clear()

    assert query(come_back(app_client, callback_url)) == {"error": "oauth_state_invalid"}
    assert user_count(app_client) == 0


def test_an_expired_state_is_refused(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("slow"))
    provider_url = start(app_client, "idp")
    import httpx

    with httpx.Client() as browser:
        callback_url = idp.browser_step(browser, provider_url)
    with Session(app_client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(OAuthFlow).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()

    assert query(come_back(app_client, callback_url)) == {"error": "oauth_state_invalid"}


@pytest.mark.parametrize("params", [{}, {"state": "never-issued", "code": "x"}])
def test_a_callback_with_no_known_state_is_a_400(
    app_client: TestClient, params: dict[str, str]
) -> None:
    response = app_client.get("/auth/oauth/idp/callback", params=params, follow_redirects=False)
    assert_problem(response, 400, "oauth_state_invalid")
    assert "location" not in response.headers


# Raw query strings, as a browser or curl could send them.
HOSTILE = ["a%00b", "%ff%fe", "x" * 3000, "%0d%0aSet-Cookie:%20a=b"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_state_is_a_clear_refusal_and_changes_nothing(
    app_client: TestClient, value: str
) -> None:
    response = app_client.get(
        f"/auth/oauth/idp/callback?state={value}&code=x", follow_redirects=False
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "location" not in response.headers
    assert user_count(app_client) == 0


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_provider_id_or_redirect_to_is_refused_before_any_redirect(
    app_client: TestClient, value: str
) -> None:
    asked = [
        f"/auth/oauth/{value}/authorize?redirect_to={SPA}",
        f"/auth/oauth/{value}/callback?state=x&code=x",
        f"/auth/oauth/idp/authorize?redirect_to={SPA}{value}",
    ]
    for path in asked:
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code in (400, 404, 422), (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_code_with_a_real_state_goes_back_as_oauth_failed(
    app_client: TestClient, idp: ControlledIdp, value: str
) -> None:
    """The provider refuses such a code: the browser goes back with an error (or, too
    long for the query, a 422), no account is made, and the state is spent."""
    as_user(idp, unique_email("hostile-code"))
    provider_url = start(app_client, "idp")
    state = query(provider_url)["state"]

    response = app_client.get(
        f"/auth/oauth/idp/callback?state={state}&code={value}", follow_redirects=False
    )

    if response.status_code == 302:
        assert query(response.headers["location"]) == {"error": "oauth_failed"}
        assert [e.reason for e in events(app_client, "oauth_failed")] == ["idp:token_refused"]
        again = app_client.get(
            f"/auth/oauth/idp/callback?state={state}&code=x", follow_redirects=False
        )
        assert query(again.headers["location"]) == {"error": "oauth_state_invalid"}
    else:
        assert response.status_code == 422, response.text
    assert user_count(app_client) == 0


@pytest.mark.parametrize(
    "redirect_to",
    [
        "https://evil.example/",
        "http://127.0.0.1:5173.evil.example/",
        "http://127.0.0.1:51730/",
        "//evil.example/",
        "http://127.0.0.1:5173\\@evil.example/",
        SPA + "\r\nSet-Cookie: a=b",
        SPA + "x" * 3000,
    ],
)
def test_redirect_to_outside_the_allow_list_is_a_400(
    app_client: TestClient, redirect_to: str
) -> None:
    response = app_client.get(
        "/auth/oauth/idp/authorize", params={"redirect_to": redirect_to}, follow_redirects=False
    )
    assert response.status_code in (400, 422), response.text
    assert "location" not in response.headers


def test_redirect_to_keeps_its_own_query(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("query"))
    the_trip = trip(app_client, "idp", idp.browser_step, redirect_to=SPA + "done?next=%2Fhome")
    assert the_trip.result.keys() == {"next", "code"}
    assert the_trip.result["next"] == "/home"


def test_a_denial_at_the_provider_is_oauth_denied(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    idp.deny = True
    assert trip(app_client, "idp", idp.browser_step).result == {"error": "oauth_denied"}
    assert [e.reason for e in events(app_client, "oauth_failed")] == [
        "idp:provider_error:access_denied"
    ]


def test_an_unknown_provider_is_a_404(app_client: TestClient) -> None:
    response = app_client.get(
        "/auth/oauth/nope/authorize", params={"redirect_to": RETURN_PAGE}, follow_redirects=False
    )
    assert_problem(response, 404, "not_found")


# --- linking rules ------------------------------------------------------------------


def verified_local_account(client: TestClient, email: str) -> dict[str, Any]:
    body = signup(client, email)
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(
            update(User).where(col(User.email) == email).values(email_verified_at=utcnow())
        )
        session.commit()
    return body


def test_a_verified_provider_email_links_to_the_account(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("linked")
    local_user = verified_local_account(app_client, email)
    as_user(idp, email)

    body = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert body["user"]["id"] == local_user["user"]["id"]
    assert body["user"]["has_password"] is True
    assert login(app_client, email).status_code == 200  # the password still works


def test_an_unverified_provider_email_never_links(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("unverified")
    verified_local_account(app_client, email)
    as_user(idp, email, verified=False)

    assert trip(app_client, "idp", idp.browser_step).result == {"error": "email_not_verified"}
    assert len(users_named(app_client, email)) == 1
    with Session(app_client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        assert session.exec(select(Identity)).all() == []


def test_a_pre_hijacked_account_loses_its_password_and_sessions(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    """Someone registered the address without owning it (never verified): when its
    owner signs in through a provider that verified it, the squatter is out."""
    email = unique_email("squatted")
    squatter = signup(app_client, email)
    as_user(idp, email)

    owner = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert owner["user"]["id"] == squatter["user"]["id"]
    assert owner["user"]["has_password"] is False
    assert owner["user"]["email_verified_at"] is not None
    assert app_client.get("/auth/me", headers=bearer(squatter["access_token"])).status_code == 401
    assert login(app_client, email).status_code == 401
    revoked = events(app_client, "sessions_revoked")
    assert [e.reason for e in revoked] == ["unverified_account_linked"]


def test_a_squatters_second_factor_goes_with_the_takeover(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    """The squatter also turned TOTP on: the owner must not end at their code."""
    email = unique_email("squatted-mfa")
    enrol(app_client, signup(app_client, email)["access_token"])
    as_user(idp, email)

    owner = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert "access_token" in owner, owner
    assert owner["user"]["mfa_enabled"] is False
    assert [e.reason for e in events(app_client, "mfa_reset")] == [
        "enrolled_before_address_verified"
    ]


def test_a_provider_with_no_email_is_refused(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, None, sub="no-email")
    assert trip(app_client, "idp", idp.browser_step).result == {"error": "email_missing"}
    assert user_count(app_client) == 0


def test_a_disabled_user_cannot_sign_in_socially(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("disabled")
    as_user(idp, email)
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    with Session(app_client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(User).where(col(User.email) == email).values(is_active=False))
        session.commit()

    assert trip(app_client, "idp", idp.browser_step).result == {"error": "account_disabled"}


def test_with_verified_email_required_an_unverified_provider_address_gets_no_session(
    idp: ControlledIdp, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUIRE_VERIFIED_EMAIL holds for social sign-in too: an address the provider
    has not verified goes back with email_not_verified, and no account is made."""
    provider_env(monkeypatch, "idp", issuer=idp.issuer)
    client = oauth_client(make_client, "idp", require_verified_email=True)
    unverified, verified = unique_email("unproven"), unique_email("proven")
    as_user(idp, unverified, verified=False)
    assert trip(client, "idp", idp.browser_step).result == {"error": "email_not_verified"}
    assert users_named(client, unverified) == []  # refused callbacks leave no account

    as_user(idp, verified)
    body = signed_in(client, trip(client, "idp", idp.browser_step))
    assert_user(body["user"], verified)


def test_the_second_factor_is_asked_for_after_a_social_sign_in(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("mfa")
    token = verified_local_account(app_client, email)["access_token"]
    enrol(app_client, token)
    as_user(idp, email)

    body = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert body["mfa_required"] is True
    assert body["mfa_token"]
    assert "access_token" not in body


def test_an_account_made_by_a_provider_adds_a_passkey_without_a_password_and_it_is_asked_for(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    """No password to confirm: the passkey is added with the bearer token alone. From
    then on the provider's sign-in asks for the passkey as the second step."""
    as_user(idp, unique_email("social-passkey"))
    token = signed_in(app_client, trip(app_client, "idp", idp.browser_step))["access_token"]
    authenticator = SoftAuthenticator("http://localhost:5173")
    started = app_client.post(
        "/auth/passkeys/register/options", json={}, headers=bearer(token)
    ).json()
    added = app_client.post(
        "/auth/passkeys/register/verify",
        json={
            "ceremony": started["ceremony"],
            "credential": authenticator.create(started["options"]),
        },
        headers=bearer(token),
    )
    assert added.status_code == 201, added.text

    body = signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert body["mfa_required"] is True
    assert body["methods"] == ["passkey"]
    step = app_client.post("/auth/mfa/passkey/options", json={"mfa_token": body["mfa_token"]})
    answer = app_client.post(
        "/auth/mfa/verify",
        json={
            "mfa_token": body["mfa_token"],
            "ceremony": step.json()["ceremony"],
            "credential": authenticator.get(step.json()["options"]),
        },
    )
    assert answer.status_code == 200, answer.text
    # The passkey is a way in: the provider account may be unlinked now.
    auth = bearer(answer.json()["access_token"])
    [identity] = app_client.get("/auth/identities", headers=auth).json()
    assert app_client.delete(f"/auth/identities/{identity['id']}", headers=auth).status_code == 204


def test_linking_while_signed_in_and_unlinking(app_client: TestClient, idp: ControlledIdp) -> None:
    email = unique_email("owner")
    token = signup(app_client, email)["access_token"]
    as_user(idp, unique_email("elsewhere"))  # another address at the provider

    started = app_client.post(
        "/auth/oauth/idp/link", json={"redirect_to": RETURN_PAGE}, headers=bearer(token)
    )
    assert started.status_code == 200, started.text
    import httpx

    with httpx.Client() as browser:
        callback_url = idp.browser_step(browser, started.json()["authorize_url"])
    assert query(come_back(app_client, callback_url)) == {"linked": "idp"}

    listed = app_client.get("/auth/identities", headers=bearer(token)).json()
    assert [(i["provider"], i["email"]) for i in listed] == [("idp", idp.user["email"])]
    removed = app_client.delete(f"/auth/identities/{listed[0]['id']}", headers=bearer(token))
    assert removed.status_code == 204
    assert app_client.get("/auth/identities", headers=bearer(token)).json() == []
    assert [e.event_type for e in events(app_client, "identity_unlinked")] == ["identity_unlinked"]


def test_an_identity_of_another_user_cannot_be_linked(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    as_user(idp, unique_email("first"))
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    token = signup(app_client, unique_email("second"))["access_token"]

    started = app_client.post(
        "/auth/oauth/idp/link", json={"redirect_to": RETURN_PAGE}, headers=bearer(token)
    )
    import httpx

    with httpx.Client() as browser:
        callback_url = idp.browser_step(browser, started.json()["authorize_url"])
    assert query(come_back(app_client, callback_url)) == {"error": "identity_taken"}
    assert app_client.get("/auth/identities", headers=bearer(token)).json() == []


def test_the_last_way_in_cannot_be_unlinked(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("only"))
    body = signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    token = body["access_token"]
    (identity,) = app_client.get("/auth/identities", headers=bearer(token)).json()

    response = app_client.delete(f"/auth/identities/{identity['id']}", headers=bearer(token))

    assert_problem(response, 409, "last_login_method")
    assert len(app_client.get("/auth/identities", headers=bearer(token)).json()) == 1


def test_someone_elses_identity_is_a_404(app_client: TestClient, idp: ControlledIdp) -> None:
    as_user(idp, unique_email("theirs"))
    theirs = signed_in(app_client, trip(app_client, "idp", idp.browser_step))
    (identity,) = app_client.get("/auth/identities", headers=bearer(theirs["access_token"])).json()
    mine = signup(app_client, unique_email("mine"))["access_token"]

    response = app_client.delete(f"/auth/identities/{identity['id']}", headers=bearer(mine))
    assert_problem(response, 404, "not_found")


def test_a_password_login_is_refused_for_an_account_without_one(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    email = unique_email("nopass")
    as_user(idp, email)
    signed_in(app_client, trip(app_client, "idp", idp.browser_step))

    assert login(app_client, email, STRONG_PASSWORD).status_code == 401


def test_the_callback_url_is_the_public_url(app_client: TestClient, idp: ControlledIdp) -> None:
    provider_url = start(app_client, "idp")
    assert query(provider_url)["redirect_uri"] == "http://testserver/auth/oauth/idp/callback"
    assert local(query(provider_url)["redirect_uri"] + "?x=1").startswith("/auth/oauth/idp/")


def test_a_provider_that_is_down_sends_the_browser_back_with_oauth_failed(
    app_client: TestClient, idp: ControlledIdp
) -> None:
    idp.stop()  # before the app has fetched its discovery document

    response = app_client.get(
        "/auth/oauth/idp/authorize", params={"redirect_to": RETURN_PAGE}, follow_redirects=False
    )

    assert response.status_code == 302
    assert response.headers["location"] == RETURN_PAGE + "?error=oauth_failed"
    assert [e.reason for e in events(app_client, "oauth_failed")] == ["idp:provider_unreachable"]
