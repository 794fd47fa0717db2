"""The second factor over HTTP, on SQLite and PostgreSQL: enrolment, the two-step login,
replays, recovery codes, disabling, and what the database keeps.

Codes are computed here with pyotp from the secret the API returned, as an
authenticator app would. A code once accepted is refused for the rest of its window,
so each test uses the current step and then the next one (both inside the one step
of drift the server allows), never waiting 30 seconds.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.api_helpers import assert_no_secret, assert_problem, assert_user, login
from smtp_sink import Mailbox, link_token
from support import STRONG_PASSWORD, TEST_MFA_KEY, bearer, signup, unique_email


def code(secret: str, steps: int = 0) -> str:
    """The code an authenticator app shows `steps` 30-second steps from now."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps)


def away_from_a_step_edge() -> None:
    """For tests that use a code a step *behind* (or two away): start early in a step,
    so that the step does not change between computing the code and the server
    checking it. Waits at most three seconds."""
    left = 30 - time.time() % 30
    if left < 3:
        time.sleep(left + 0.2)


def enrol_with(client: TestClient, token: str) -> tuple[str, list[str], str]:
    """Setup and confirm with the current code; returns the secret, the recovery codes
    and the code the confirmation used (a replay test must replay that one: the step
    may have moved on since, and then the code of "now" is a fresh one)."""
    setup = client.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )
    assert setup.status_code == 200, setup.text
    secret: str = setup.json()["secret"]
    used = code(secret)
    confirm = client.post("/auth/mfa/totp/confirm", json={"code": used}, headers=bearer(token))
    assert confirm.status_code == 200, confirm.text
    codes: list[str] = confirm.json()["recovery_codes"]
    return secret, codes, used


def enrol(client: TestClient, token: str) -> tuple[str, list[str]]:
    """Setup and confirm with the current code; returns the secret and recovery codes."""
    secret, codes, _used = enrol_with(client, token)
    return secret, codes


def enrolled_user_with(client: TestClient) -> tuple[str, str, str, str]:
    """A new account with the factor on: email, access token, secret, and the code
    its confirmation used."""
    email = unique_email("mfa")
    token = signup(client, email)["access_token"]
    secret, _codes, used = enrol_with(client, token)
    return email, token, secret, used


def enrolled_user(client: TestClient) -> tuple[str, str, str, list[str]]:
    """A new account with the factor on: email, access token, secret, recovery codes."""
    email = unique_email("mfa")
    token = signup(client, email)["access_token"]
    secret, codes = enrol(client, token)
    return email, token, secret, codes


def first_step(client: TestClient, email: str) -> str:
    response = login(client, email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True
    mfa_token: str = body["mfa_token"]
    return mfa_token


def verify(client: TestClient, mfa_token: str, value: str) -> httpx.Response:
    return client.post("/auth/mfa/verify", json={"mfa_token": mfa_token, "code": value})


def me(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sql(client: TestClient, statement: str, **params: Any) -> list[Any]:
    """Read the database as an operator (or a thief with a dump) would."""
    engine = create_engine(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(statement), params).all())
    finally:
        engine.dispose()


def event_types(client: TestClient, user_id: str, token: str) -> list[str]:
    response = client.get(f"/api/{user_id}/auth-events", headers=bearer(token))
    assert response.status_code == 200, response.text
    return [item["event_type"] for item in response.json()["items"]]


# -- enrolment ---------------------------------------------------------------------------


def test_setup_gives_a_secret_and_uri_and_confirm_turns_the_factor_on(
    roomy_client: TestClient,
) -> None:
    email = unique_email("enrol")
    token = signup(roomy_client, email)["access_token"]
    assert me(roomy_client, token)["mfa_enabled"] is False

    setup = roomy_client.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )

    assert setup.status_code == 200, setup.text
    assert setup.headers["Cache-Control"] == "no-store"
    secret = setup.json()["secret"]
    assert len(secret) == 32  # base32 of 160 bits
    uri = urlparse(setup.json()["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    query = parse_qs(uri.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["authapi"]
    assert email in uri.path.replace("%40", "@")
    # Pending: nothing changes for login until a code confirms it.
    assert me(roomy_client, token)["mfa_enabled"] is False
    assert "access_token" in login(roomy_client, email).json()

    confirm = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": code(secret)}, headers=bearer(token)
    )

    assert confirm.status_code == 200, confirm.text
    assert confirm.headers["Cache-Control"] == "no-store"
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c.replace("-", "")) == 16 for c in codes)
    user = me(roomy_client, token)
    assert_user(user, email)
    assert user["mfa_enabled"] is True
    assert event_types(roomy_client, user["id"], token)[0] == "mfa_enabled"


def test_a_wrong_confirmation_code_leaves_the_factor_off(roomy_client: TestClient) -> None:
    email = unique_email("wrongconfirm")
    token = signup(roomy_client, email)["access_token"]
    setup = roomy_client.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )
    secret = setup.json()["secret"]
    wrong = f"{(int(code(secret)) + 1) % 1_000_000:06d}"

    response = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": wrong}, headers=bearer(token)
    )

    assert_problem(response, 400, "invalid_code")
    user = me(roomy_client, token)
    assert user["mfa_enabled"] is False
    assert "mfa_failed" in event_types(roomy_client, user["id"], token)
    assert "access_token" in login(roomy_client, email).json()


def test_setup_needs_the_password(roomy_client: TestClient) -> None:
    token = signup(roomy_client)["access_token"]

    response = roomy_client.post(
        "/auth/mfa/totp/setup", json={"password": "Not7TheOne!"}, headers=bearer(token)
    )

    assert_problem(response, 400, "wrong_password")
    assert_no_secret(response, "Not7TheOne!")


def test_setup_needs_a_bearer_token(roomy_client: TestClient) -> None:
    response = roomy_client.post("/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD})
    assert_problem(response, 401, "token_missing")


def test_setup_when_enabled_is_409_and_a_new_setup_replaces_a_pending_one(
    roomy_client: TestClient,
) -> None:
    token = signup(roomy_client)["access_token"]
    body = {"password": STRONG_PASSWORD}
    first = roomy_client.post("/auth/mfa/totp/setup", json=body, headers=bearer(token))
    second = roomy_client.post("/auth/mfa/totp/setup", json=body, headers=bearer(token))
    old, new = first.json()["secret"], second.json()["secret"]
    assert old != new

    stale = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": code(old)}, headers=bearer(token)
    )
    assert_problem(stale, 400, "invalid_code")
    good = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": code(new)}, headers=bearer(token)
    )
    assert good.status_code == 200, good.text

    again = roomy_client.post("/auth/mfa/totp/setup", json=body, headers=bearer(token))
    assert_problem(again, 409, "mfa_already_enabled")
    confirm_again = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": code(new, 1)}, headers=bearer(token)
    )
    assert_problem(confirm_again, 409, "mfa_already_enabled")


def test_confirm_without_a_setup_is_409(roomy_client: TestClient) -> None:
    token = signup(roomy_client)["access_token"]
    response = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(token)
    )
    assert_problem(response, 409, "mfa_not_enabled")


# -- the two-step login ------------------------------------------------------------------


def test_login_with_the_factor_on_asks_for_a_code_then_issues_tokens(
    roomy_client: TestClient,
) -> None:
    email, _token, secret, _codes = enrolled_user(roomy_client)

    first = login(roomy_client, email)

    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    body = first.json()
    assert set(body) == {"mfa_required", "mfa_token", "mfa_expires_in", "methods"}
    assert body["methods"] == ["totp", "recovery_code"]
    assert body["mfa_expires_in"] == 300
    assert len(body["mfa_token"]) >= 43

    second = verify(roomy_client, body["mfa_token"], code(secret, 1))

    assert second.status_code == 200, second.text
    assert second.headers["Cache-Control"] == "no-store"
    tokens = second.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"]
    assert_user(tokens["user"], email)
    assert tokens["user"]["last_login_at"] is not None
    assert me(roomy_client, tokens["access_token"])["mfa_enabled"] is True
    refreshed = roomy_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    # The session's row records how the login was completed.
    rows = sql(
        roomy_client,
        "SELECT reason FROM auth_events WHERE email = :email AND event_type = 'login_success'",
        email=email,
    )
    assert rows == [("totp",)]


def test_a_code_is_refused_for_the_rest_of_its_window(roomy_client: TestClient) -> None:
    """The confirmation used the current step's code: the same code does not log in,
    and neither does it after the next step's code was accepted."""
    email, _token, secret, used = enrolled_user_with(roomy_client)

    replay = verify(roomy_client, first_step(roomy_client, email), used)
    assert_problem(replay, 400, "invalid_code")

    mfa_token = first_step(roomy_client, email)
    assert verify(roomy_client, mfa_token, code(secret, 1)).status_code == 200
    again = verify(roomy_client, first_step(roomy_client, email), code(secret, 1))
    assert_problem(again, 400, "invalid_code")
    older = verify(roomy_client, first_step(roomy_client, email), used)
    assert_problem(older, 400, "invalid_code")


def test_one_step_of_drift_either_way_and_no_more(roomy_client: TestClient) -> None:
    email = unique_email("drift")
    token = signup(roomy_client, email)["access_token"]
    setup = roomy_client.post(
        "/auth/mfa/totp/setup", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )
    secret = setup.json()["secret"]
    away_from_a_step_edge()
    for steps in (-2, 2):
        refused = roomy_client.post(
            "/auth/mfa/totp/confirm", json={"code": code(secret, steps)}, headers=bearer(token)
        )
        assert_problem(refused, 400, "invalid_code")

    behind = roomy_client.post(
        "/auth/mfa/totp/confirm", json={"code": code(secret, -1)}, headers=bearer(token)
    )
    assert behind.status_code == 200, behind.text
    ahead = verify(roomy_client, first_step(roomy_client, email), code(secret, 1))
    assert ahead.status_code == 200, ahead.text


def test_a_wrong_password_is_still_the_one_401(roomy_client: TestClient) -> None:
    email, _token, _secret, _codes = enrolled_user(roomy_client)
    response = login(roomy_client, email, "Wrong7Password!")
    assert_problem(response, 401, "invalid_credentials")
    assert "mfa_token" not in response.text


def test_the_password_grant_is_refused_with_mfa_required(roomy_client: TestClient) -> None:
    email, _token, _secret, _codes = enrolled_user(roomy_client)

    response = roomy_client.post(
        "/auth/token", data={"username": email, "password": STRONG_PASSWORD}
    )

    body = assert_problem(response, 403, "mfa_required")
    assert body["error"] == "invalid_grant"
    assert "access_token" not in response.text
    wrong = roomy_client.post("/auth/token", data={"username": email, "password": "Wrong7Pass!"})
    assert_problem(wrong, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "mfa_token",
    [
        "made-up-token-of-a-valid-shape-0123456789abcdef",
        "A" * 43,
    ],
)
def test_a_made_up_mfa_token_is_401(roomy_client: TestClient, mfa_token: str) -> None:
    response = verify(roomy_client, mfa_token, "123456")
    assert_problem(response, 401, "token_invalid")
    assert mfa_token not in response.text


def test_an_expired_mfa_token_is_401(roomy_client: TestClient) -> None:
    email, _token, secret, _codes = enrolled_user(roomy_client)
    mfa_token = first_step(roomy_client, email)
    engine = roomy_client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:  # five minutes pass
        connection.execute(
            text(
                "UPDATE links SET expires_at = created_at WHERE purpose = 'mfa_login' "
                "AND email = :email"
            ),
            {"email": email},
        )

    response = verify(roomy_client, mfa_token, code(secret, 1))

    assert_problem(response, 401, "token_invalid")


def test_an_mfa_token_works_once_and_survives_a_mistyped_code(
    roomy_client: TestClient,
) -> None:
    email, _token, secret, _codes = enrolled_user(roomy_client)
    mfa_token = first_step(roomy_client, email)

    typo = verify(roomy_client, mfa_token, "000000" if code(secret, 1) != "000000" else "111111")
    assert_problem(typo, 400, "invalid_code")
    assert verify(roomy_client, mfa_token, code(secret, 1)).status_code == 200

    reused = verify(roomy_client, mfa_token, code(secret, 1))
    assert_problem(reused, 401, "token_invalid")


def test_an_mfa_token_is_not_an_access_token_nor_a_link(roomy_client: TestClient) -> None:
    email, _token, _secret, _codes = enrolled_user(roomy_client)
    mfa_token = first_step(roomy_client, email)

    assert_problem(roomy_client.get("/auth/me", headers=bearer(mfa_token)), 401, "token_invalid")
    reset = roomy_client.post(
        "/auth/password/reset", json={"token": mfa_token, "new_password": "Fresh9Meadow!"}
    )
    assert_problem(reset, 400, "link_invalid")


def test_cookie_mode_puts_the_refresh_token_of_the_second_step_in_the_cookie(
    make_client: Any,
) -> None:
    client: TestClient = make_client(
        rate_limit_auth="1000/minute",
        refresh_token_cookie=True,
        cors_origins=["http://127.0.0.1:5173"],
    )
    client.headers["Origin"] = "http://127.0.0.1:5173"  # as that page's browser sends
    email, _token, secret, _codes = enrolled_user(client)

    response = verify(client, first_step(client, email), code(secret, 1))

    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] is None
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("authapi_refresh=")
    assert "HttpOnly" in cookie


def test_an_unverified_address_still_gets_403_before_any_code(make_client: Any) -> None:
    """REQUIRE_VERIFIED_EMAIL applies to accounts with the factor on too."""
    relaxed: TestClient = make_client(rate_limit_auth="1000/minute")
    email, _token, _secret, _codes = enrolled_user(relaxed)
    strict: TestClient = make_client(rate_limit_auth="1000/minute", require_verified_email=True)

    response = login(strict, email)

    assert_problem(response, 403, "email_not_verified")
    assert "mfa_token" not in response.text


# -- recovery codes ----------------------------------------------------------------------


def test_a_recovery_code_logs_in_once(roomy_client: TestClient) -> None:
    email, token, _secret, codes = enrolled_user(roomy_client)

    first = verify(roomy_client, first_step(roomy_client, email), codes[0].upper())
    assert first.status_code == 200, first.text
    again = verify(roomy_client, first_step(roomy_client, email), codes[0])
    assert_problem(again, 400, "invalid_code")
    undashed = verify(roomy_client, first_step(roomy_client, email), codes[1].replace("-", ""))
    assert undashed.status_code == 200, undashed.text

    user_id = me(roomy_client, token)["id"]
    events = event_types(roomy_client, user_id, token)
    assert events.count("mfa_recovery_code_used") == 2
    assert "mfa_failed" in events


def test_new_recovery_codes_void_the_old_ones(roomy_client: TestClient) -> None:
    email, token, secret, old_codes = enrolled_user(roomy_client)

    response = roomy_client.post(
        "/auth/mfa/recovery-codes",
        json={"password": STRONG_PASSWORD, "code": code(secret, 1)},
        headers=bearer(token),
    )

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    new_codes = response.json()["recovery_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    for old in old_codes[:2]:
        assert_problem(
            verify(roomy_client, first_step(roomy_client, email), old), 400, "invalid_code"
        )
    assert verify(roomy_client, first_step(roomy_client, email), new_codes[0]).status_code == 200
    user_id = me(roomy_client, token)["id"]
    assert "mfa_recovery_codes_regenerated" in event_types(roomy_client, user_id, token)


def test_new_recovery_codes_need_the_password_and_a_code(roomy_client: TestClient) -> None:
    _email, token, secret, codes = enrolled_user(roomy_client)
    url = "/auth/mfa/recovery-codes"

    wrong_password = roomy_client.post(
        url, json={"password": "Wrong7Pass!", "code": code(secret, 1)}, headers=bearer(token)
    )
    assert_problem(wrong_password, 400, "wrong_password")
    wrong_code = roomy_client.post(
        url,
        json={"password": STRONG_PASSWORD, "code": "k3mq-7vxa-2bnd-p4rt"},
        headers=bearer(token),
    )
    assert_problem(wrong_code, 400, "invalid_code")
    # Nothing changed: the old codes still work.
    ok = roomy_client.post(
        url, json={"password": STRONG_PASSWORD, "code": codes[0]}, headers=bearer(token)
    )
    assert ok.status_code == 200, ok.text


# -- disabling -----------------------------------------------------------------------------


def test_disable_turns_the_factor_off_and_deletes_the_recovery_codes(
    roomy_client: TestClient,
) -> None:
    email, token, secret, _codes = enrolled_user(roomy_client)
    user_id = me(roomy_client, token)["id"]
    assert sql(roomy_client, "SELECT count(*) FROM recovery_codes")[0][0] == 10

    response = roomy_client.post(
        "/auth/mfa/totp/disable",
        json={"password": STRONG_PASSWORD, "code": code(secret, 1)},
        headers=bearer(token),
    )

    assert response.status_code == 204, response.text
    assert me(roomy_client, token)["mfa_enabled"] is False
    assert "access_token" in login(roomy_client, email).json()
    assert sql(roomy_client, "SELECT count(*) FROM recovery_codes")[0][0] == 0
    stored = sql(
        roomy_client, "SELECT totp_secret, totp_last_step FROM users WHERE email = :e", e=email
    )
    assert stored == [(None, None)]
    assert "mfa_disabled" in event_types(roomy_client, user_id, token)
    again = roomy_client.post(
        "/auth/mfa/totp/disable",
        json={"password": STRONG_PASSWORD, "code": "123456"},
        headers=bearer(token),
    )
    assert_problem(again, 409, "mfa_not_enabled")


def test_disable_with_a_recovery_code_when_the_phone_is_lost(roomy_client: TestClient) -> None:
    _email, token, _secret, codes = enrolled_user(roomy_client)
    response = roomy_client.post(
        "/auth/mfa/totp/disable",
        json={"password": STRONG_PASSWORD, "code": codes[3]},
        headers=bearer(token),
    )
    assert response.status_code == 204, response.text


def test_disable_refuses_a_wrong_password_or_code_and_changes_nothing(
    roomy_client: TestClient,
) -> None:
    email, token, secret, used = enrolled_user_with(roomy_client)
    url = "/auth/mfa/totp/disable"

    wrong_password = roomy_client.post(
        url, json={"password": "Wrong7Pass!", "code": code(secret, 1)}, headers=bearer(token)
    )
    assert_problem(wrong_password, 400, "wrong_password")
    replayed = roomy_client.post(
        url, json={"password": STRONG_PASSWORD, "code": used}, headers=bearer(token)
    )
    assert_problem(replayed, 400, "invalid_code")
    assert me(roomy_client, token)["mfa_enabled"] is True
    assert login(roomy_client, email).json()["mfa_required"] is True


# -- the account's life ----------------------------------------------------------------------


def test_deleting_the_account_deletes_its_recovery_codes(roomy_client: TestClient) -> None:
    _email, token, _secret, _codes = enrolled_user(roomy_client)
    assert sql(roomy_client, "SELECT count(*) FROM recovery_codes")[0][0] == 10

    response = roomy_client.post(
        "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=bearer(token)
    )

    assert response.status_code == 204, response.text
    assert sql(roomy_client, "SELECT count(*) FROM recovery_codes")[0][0] == 0


# -- the throttle ------------------------------------------------------------------------------


def test_wrong_codes_count_in_the_account_throttle(make_client: Any) -> None:
    client: TestClient = make_client(rate_limit_auth="1000/minute", login_failure_limit=3)
    email, token, secret, _codes = enrolled_user(client)
    mfa_token = first_step(client, email)
    right = code(secret, 1)
    wrong = "000000" if right != "000000" else "111111"

    for _ in range(3):
        assert_problem(verify(client, mfa_token, wrong), 400, "invalid_code")

    held = verify(client, mfa_token, right)
    body = assert_problem(held, 429, "too_many_attempts")
    assert int(held.headers["Retry-After"]) >= 1
    assert right not in held.text
    assert body["detail"]
    # The same count as passwords: the password step is held back too.
    assert_problem(login(client, email), 429, "too_many_attempts")
    user_id = me(client, token)["id"]
    assert event_types(client, user_id, token).count("mfa_failed") == 3


# -- what the database keeps ------------------------------------------------------------------


def test_the_secret_and_recovery_codes_are_not_stored_in_the_clear(
    roomy_client: TestClient,
) -> None:
    email, _token, secret, codes = enrolled_user(roomy_client)

    [(stored,)] = sql(roomy_client, "SELECT totp_secret FROM users WHERE email = :e", e=email)
    assert secret not in stored
    assert secret.lower() not in stored.lower()
    # Encrypted under MFA_ENCRYPTION_KEY, and under no other key.
    assert Fernet(TEST_MFA_KEY.encode()).decrypt(stored.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(stored.encode())

    hashes = {row[0] for row in sql(roomy_client, "SELECT code_hash FROM recovery_codes")}
    assert len(hashes) == 10
    for recovery in codes:
        normalized = recovery.replace("-", "")
        assert recovery not in hashes
        assert normalized not in hashes
        assert hashlib.sha256(normalized.encode()).hexdigest() in hashes
    # The mfa_token too: only its SHA-256.
    mfa_token = first_step(roomy_client, email)
    stored_tokens = [
        row[0]
        for row in sql(roomy_client, "SELECT token_hash FROM links WHERE purpose = 'mfa_login'")
    ]
    assert stored_tokens == [hashlib.sha256(mfa_token.encode()).hexdigest()]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "12\x0034",
        "123\x00456",
        "١٢٣٤٥٦",  # Arabic-Indic digits: digits to str.isdigit, not to a TOTP app
        "k3mq-7vxa-2bnd-p4r",
        "k3mq-7vxa-2bnd-p4rt-",
        "0" * 10_000,
        "",
    ],
)
def test_malformed_codes_are_422_and_never_echoed(roomy_client: TestClient, value: str) -> None:
    email, token, _secret, _codes = enrolled_user(roomy_client)
    mfa_token = first_step(roomy_client, email)

    responses = [
        verify(roomy_client, mfa_token, value),
        roomy_client.post(
            "/auth/mfa/totp/disable",
            json={"password": STRONG_PASSWORD, "code": value},
            headers=bearer(token),
        ),
        roomy_client.post(
            "/auth/mfa/recovery-codes",
            json={"password": STRONG_PASSWORD, "code": value},
            headers=bearer(token),
        ),
    ]

    for response in responses:
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["field"] == "code"
        if len(value) > 3:
            assert value not in response.text
    assert me(roomy_client, token)["mfa_enabled"] is True


@pytest.mark.parametrize(
    "mfa_token",
    # 60,000 characters: as long as fits in MAX_REQUEST_BYTES (64 KiB), beyond it is a 413.
    ["x" * 60_000, "tiny-token", "has spaces in it, which no token has", "nul\x00" * 10, "é" * 40],
)
def test_malformed_mfa_tokens_are_refused_and_never_echoed(
    roomy_client: TestClient, mfa_token: str
) -> None:
    response = verify(roomy_client, mfa_token, "123456")
    assert_problem(response, 422, "validation_error")
    assert mfa_token not in response.text


def test_unknown_fields_and_wrong_types_are_422(roomy_client: TestClient) -> None:
    token = signup(roomy_client)["access_token"]
    for body in (
        {"password": STRONG_PASSWORD, "extra": 1},
        {"password": 12345678},
        {},
    ):
        response = roomy_client.post("/auth/mfa/totp/setup", json=body, headers=bearer(token))
        assert_problem(response, 422, "validation_error")
    response = roomy_client.post("/auth/mfa/verify", json={"mfa_token": None, "code": 123456})
    assert_problem(response, 422, "validation_error")


def test_a_password_reset_by_email_leaves_the_factor_on(
    mail_client: TestClient, mailbox: Mailbox
) -> None:
    """A factor enrolled on a verified address (one enrolled before the address was
    proven goes at a reset: abuse/test_mfa_squatter.py)."""
    email = unique_email("mfa")
    token = signup(mail_client, email)["access_token"]
    deadline = time.monotonic() + 15
    while not [m for m in mailbox.to(email) if m["Subject"] == "Confirm your email address"]:
        assert time.monotonic() < deadline, "no verification mail"
        time.sleep(0.05)
    verification = next(m for m in mailbox.to(email) if m["Subject"].startswith("Confirm"))
    verified = mail_client.post("/auth/email/verify", json={"token": link_token(verification)})
    assert verified.status_code == 200, verified.text
    secret, _codes = enrol(mail_client, token)
    assert mail_client.post("/auth/password/forgot", json={"email": email}).status_code == 202
    deadline = time.monotonic() + 15
    while not [m for m in mailbox.to(email) if m["Subject"] == "Reset your password"]:
        assert time.monotonic() < deadline, "no reset mail"
        time.sleep(0.05)
    message = next(m for m in mailbox.to(email) if m["Subject"] == "Reset your password")
    new_password = "Fresh9Meadow!"
    reset = mail_client.post(
        "/auth/password/reset", json={"token": link_token(message), "new_password": new_password}
    )
    assert reset.status_code == 204, reset.text

    response = login(mail_client, email, new_password)

    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is True
    assert verify(mail_client, response.json()["mfa_token"], code(secret, 1)).status_code == 200
