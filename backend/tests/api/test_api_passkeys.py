"""Passkeys over HTTP on SQLite and PostgreSQL, with a software authenticator of real
keys, real CBOR and real signatures (soft_authenticator.py): registering, signing in
with no password, the second step, and every answer the server must refuse."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.api_helpers import assert_problem, assert_user
from api.test_api_mfa import enrol
from authapi.models import AuthEvent, OutboxMessage, Passkey, User, WebAuthnCeremony
from authapi.models.base import utcnow
from authapi.services import factors
from authapi.services.audit import ClientInfo
from soft_authenticator import ES256, RS256, SoftAuthenticator
from support import STRONG_PASSWORD, bearer, signup, unique_email

ORIGIN = "http://localhost:5173"  # WEBAUTHN_ORIGINS' default; WEBAUTHN_RP_ID is localhost


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(rate_limit_auth="1000/minute", rate_limit_passkey="1000/minute")


class Account:
    """A signed-up user with a token, and the authenticator in their hand."""

    def __init__(self, client: TestClient, **authenticator: Any) -> None:
        self.client = client
        self.email = unique_email("passkey")
        body = signup(client, self.email)
        self.id: str = body["user"]["id"]
        self.token: str = body["access_token"]
        self.authenticator = SoftAuthenticator(ORIGIN, **authenticator)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)

    def options(self, password: str | None = STRONG_PASSWORD) -> dict[str, Any]:
        body = {} if password is None else {"password": password}
        response = self.client.post("/auth/passkeys/register/options", json=body, headers=self.auth)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def register(self, name: str | None = "Laptop", **create: Any) -> dict[str, Any]:
        started = self.options()
        credential = self.authenticator.create(started["options"], **create)
        body: dict[str, Any] = {"ceremony": started["ceremony"], "credential": credential}
        if name is not None:
            body["name"] = name
        response = self.client.post("/auth/passkeys/register/verify", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        passkey: dict[str, Any] = response.json()
        return passkey


def login_options(client: TestClient) -> dict[str, Any]:
    response = client.post("/auth/passkeys/login/options", json={})
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()
    return options


def sign_in(client: TestClient, ceremony: str, credential: dict[str, Any]) -> Any:
    return client.post(
        "/auth/passkeys/login/verify", json={"ceremony": ceremony, "credential": credential}
    )


def events(client: TestClient, *types: str) -> list[AuthEvent]:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(AuthEvent)
            .where(col(AuthEvent.event_type).in_(types))
            .order_by(col(AuthEvent.created_at))
        )
        return list(rows.all())


def stored(client: TestClient, model: Any) -> list[Any]:
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        return list(session.exec(select(model)).all())


# --- registering --------------------------------------------------------------------


@pytest.mark.parametrize("alg", [ES256, RS256])
def test_a_registered_passkey_signs_in_with_no_password(client: TestClient, alg: int) -> None:
    account = Account(client)
    passkey = account.register(alg=alg)
    assert set(passkey) == {"id", "name", "created_at", "last_used_at", "backed_up"}
    assert passkey["name"] == "Laptop"
    assert passkey["backed_up"] is True

    started = login_options(client)
    assert started["options"]["allowCredentials"] == []  # discoverable: names no account
    assert started["options"]["userVerification"] == "required"
    answer = sign_in(client, started["ceremony"], account.authenticator.get(started["options"]))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert_user(body["user"], account.email)
    assert body["user"]["passkeys"] == 1
    assert client.get("/auth/me", headers=bearer(body["access_token"])).status_code == 200
    assert [e.reason for e in events(client, "passkey_login")] == ["login"]
    assert [e.reason for e in events(client, "login_success")] == ["passkey"]
    listed = client.get("/auth/passkeys", headers=account.auth).json()
    assert [p["id"] for p in listed] == [passkey["id"]]
    assert listed[0]["last_used_at"] is not None


def test_registration_options_ask_for_the_password_and_exclude_known_passkeys(
    client: TestClient,
) -> None:
    account = Account(client)
    post = client.post
    for body, code in (({}, "wrong_password"), ({"password": "Wrong-pass1"}, "wrong_password")):
        response = post("/auth/passkeys/register/options", json=body, headers=account.auth)
        assert_problem(response, 400, code)
    first = account.register()

    options = account.options()["options"]

    assert options["rp"] == {"id": "localhost", "name": "authapi"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert {p["alg"] for p in options["pubKeyCredParams"]} == {-7, -257, -8}
    assert [c["id"] for c in options["excludeCredentials"]] == [
        account.authenticator.credentials[0].id_b64
    ]
    assert first["id"]


def test_adding_and_removing_a_passkey_is_audited_and_mailed(client: TestClient) -> None:
    account = Account(client)
    passkey = account.register(name="Phone")
    renamed = client.patch(
        f"/auth/passkeys/{passkey['id']}", json={"name": "Work phone"}, headers=account.auth
    )
    assert renamed.json()["name"] == "Work phone"

    removed = client.delete(f"/auth/passkeys/{passkey['id']}", headers=account.auth)

    assert removed.status_code == 204
    assert client.get("/auth/passkeys", headers=account.auth).json() == []
    assert client.get("/auth/me", headers=account.auth).json()["passkeys"] == 0
    kinds = [m.kind for m in stored(client, OutboxMessage) if m.to_address == account.email]
    assert "passkey_added_notice" in kinds
    assert "passkey_removed_notice" in kinds
    assert [e.event_type for e in events(client, "passkey_added", "passkey_removed")] == [
        "passkey_added",
        "passkey_removed",
    ]


def test_one_credential_id_in_the_whole_database(client: TestClient) -> None:
    owner, other = Account(client), Account(client)
    owner.register()

    started = other.options()
    copied = other.authenticator.create(
        started["options"], credential_id=owner.authenticator.credentials[0].id
    )
    response = client.post(
        "/auth/passkeys/register/verify",
        json={"ceremony": started["ceremony"], "credential": copied},
        headers=other.auth,
    )

    assert_problem(response, 409, "passkey_exists")
    assert len(stored(client, Passkey)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"user_verified": False},
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    ],
)
def test_a_registration_that_does_not_verify_adds_nothing(
    client: TestClient, bad: dict[str, Any]
) -> None:
    account = Account(client)
    started = account.options()
    credential = account.authenticator.create(started["options"], **bad)

    response = client.post(
        "/auth/passkeys/register/verify",
        json={"ceremony": started["ceremony"], "credential": credential},
        headers=account.auth,
    )

    assert_problem(response, 400, "passkey_invalid")
    assert stored(client, Passkey) == []
    assert [e.reason for e in events(client, "passkey_failed")] == ["registration"]


def test_a_registration_ceremony_is_the_users_own(client: TestClient) -> None:
    owner, other = Account(client), Account(client)
    started = owner.options()
    credential = other.authenticator.create(started["options"])

    response = client.post(
        "/auth/passkeys/register/verify",
        json={"ceremony": started["ceremony"], "credential": credential},
        headers=other.auth,
    )

    assert_problem(response, 400, "passkey_invalid")
    assert stored(client, Passkey) == []


# --- signing in ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"user_verified": False}, "assertion"),
        ({"origin": "https://evil.example"}, "assertion"),
        ({"rp_id": "evil.example"}, "assertion"),
        ({"bad_signature": True}, "assertion"),
        ({"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "assertion"),
    ],
)
def test_a_sign_in_that_does_not_verify_is_one_401(
    client: TestClient, bad: dict[str, Any], why: str
) -> None:
    account = Account(client)
    account.register()
    started = login_options(client)

    answer = sign_in(
        client, started["ceremony"], account.authenticator.get(started["options"], **bad)
    )

    assert_problem(answer, 401, "passkey_invalid")
    assert "access_token" not in answer.text
    assert [e.reason for e in events(client, "passkey_failed")] == [why]


def test_a_ceremony_answers_once(client: TestClient) -> None:
    account = Account(client)
    account.register()
    started = login_options(client)
    answer = account.authenticator.get(started["options"])
    assert sign_in(client, started["ceremony"], answer).status_code == 200

    replayed = sign_in(client, started["ceremony"], answer)
    fresh_answer = sign_in(
        client, started["ceremony"], account.authenticator.get(started["options"])
    )

    assert_problem(replayed, 401, "passkey_invalid")
    assert_problem(fresh_answer, 401, "passkey_invalid")


def test_an_expired_ceremony_is_refused(client: TestClient) -> None:
    account = Account(client)
    account.register()
    started = login_options(client)
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(WebAuthnCeremony).values(expires_at=utcnow()))
        session.commit()

    answer = sign_in(client, started["ceremony"], account.authenticator.get(started["options"]))

    assert_problem(answer, 401, "passkey_invalid")


def test_a_ceremony_of_another_purpose_is_refused(client: TestClient) -> None:
    account = Account(client)
    account.register()
    registering = account.options()  # a register ceremony, answered at the login

    answer = sign_in(
        client, registering["ceremony"], account.authenticator.get(login_options(client)["options"])
    )

    assert_problem(answer, 401, "passkey_invalid")


def test_a_counter_that_does_not_grow_is_a_cloned_key(client: TestClient) -> None:
    account = Account(client, counter=True)
    account.register()
    started = login_options(client)
    assert (
        sign_in(
            client, started["ceremony"], account.authenticator.get(started["options"])
        ).status_code
        == 200
    )

    again = login_options(client)
    cloned = account.authenticator.get(again["options"], sign_count=1)  # the count seen already

    assert_problem(sign_in(client, again["ceremony"], cloned), 401, "passkey_invalid")
    assert [e.reason for e in events(client, "passkey_counter_regressed")] == ["1<=1"]
    later = login_options(client)
    assert (
        sign_in(client, later["ceremony"], account.authenticator.get(later["options"])).status_code
        == 200
    )


def test_a_disabled_account_cannot_sign_in_with_its_passkey(client: TestClient) -> None:
    account = Account(client)
    account.register()
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(User).values(is_active=False))
        session.commit()
    started = login_options(client)

    answer = sign_in(client, started["ceremony"], account.authenticator.get(started["options"]))

    assert_problem(answer, 401, "passkey_invalid")


def test_an_unknown_credential_is_the_same_401(client: TestClient) -> None:
    stranger = SoftAuthenticator(ORIGIN)
    stranger.create(Account(client).options()["options"])  # made, never sent
    started = login_options(client)

    answer = sign_in(client, started["ceremony"], stranger.get(started["options"]))

    assert_problem(answer, 401, "passkey_invalid")
    assert [e.reason for e in events(client, "passkey_failed")] == ["unknown_credential"]


# --- the second step ----------------------------------------------------------------


def test_a_passkey_answers_the_second_step_after_a_password(client: TestClient) -> None:
    account = Account(client)
    account.register()
    first = client.post("/auth/login", json={"email": account.email, "password": STRONG_PASSWORD})
    challenge = first.json()
    assert challenge["mfa_required"] is True
    assert challenge["methods"] == ["passkey"]
    mfa_token = challenge["mfa_token"]

    started = client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token}).json()
    assert [c["id"] for c in started["options"]["allowCredentials"]] == [
        account.authenticator.credentials[0].id_b64
    ]
    credential = account.authenticator.get(started["options"])
    answer = client.post(
        "/auth/mfa/verify",
        json={"mfa_token": mfa_token, "ceremony": started["ceremony"], "credential": credential},
    )

    assert answer.status_code == 200, answer.text
    assert_user(answer.json()["user"], account.email)
    assert [e.reason for e in events(client, "login_success")] == ["passkey"]
    # A code is no answer for an account whose factor is a passkey.
    again = client.post("/auth/login", json={"email": account.email, "password": STRONG_PASSWORD})
    refused = client.post(
        "/auth/mfa/verify", json={"mfa_token": again.json()["mfa_token"], "code": "123456"}
    )
    assert_problem(refused, 400, "invalid_code")


def test_with_totp_and_a_passkey_the_challenge_lists_both(client: TestClient) -> None:
    account = Account(client)
    enrol(client, account.token)
    account.register()

    first = client.post("/auth/login", json={"email": account.email, "password": STRONG_PASSWORD})

    assert first.json()["methods"] == ["totp", "recovery_code", "passkey"]


def test_a_second_step_ceremony_is_for_its_user_only(client: TestClient) -> None:
    victim, attacker = Account(client), Account(client)
    victim.register()
    attacker.register()
    first = client.post("/auth/login", json={"email": victim.email, "password": STRONG_PASSWORD})
    mfa_token = first.json()["mfa_token"]
    started = client.post("/auth/mfa/passkey/options", json={"mfa_token": mfa_token}).json()

    # The attacker's own passkey, answering the victim's ceremony.
    credential = attacker.authenticator.get(
        started["options"], credential=attacker.authenticator.credentials[0]
    )
    answer = client.post(
        "/auth/mfa/verify",
        json={"mfa_token": mfa_token, "ceremony": started["ceremony"], "credential": credential},
    )

    assert_problem(answer, 400, "passkey_invalid")


@pytest.mark.parametrize(
    "body",
    [
        {"code": "123456", "ceremony": "x" * 43, "credential": {}},
        {},
        {"ceremony": "x" * 43},
    ],
)
def test_the_second_step_takes_a_code_or_a_passkey_not_both(
    client: TestClient, body: dict[str, Any]
) -> None:
    response = client.post("/auth/mfa/verify", json={"mfa_token": "t" * 43, **body})
    assert_problem(response, 422, "validation_error")


# --- the last way in ----------------------------------------------------------------


def test_the_last_way_in_cannot_be_deleted(client: TestClient) -> None:
    account = Account(client)
    passkey = account.register()
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        session.execute(update(User).values(password_hash=None))
        session.commit()

    response = client.delete(f"/auth/passkeys/{passkey['id']}", headers=account.auth)

    assert_problem(response, 409, "last_login_method")
    assert len(stored(client, Passkey)) == 1


def test_someone_elses_passkey_is_a_404(client: TestClient) -> None:
    owner, other = Account(client), Account(client)
    passkey = owner.register()
    for response in (
        client.delete(f"/auth/passkeys/{passkey['id']}", headers=other.auth),
        client.patch(f"/auth/passkeys/{passkey['id']}", json={"name": "x"}, headers=other.auth),
    ):
        assert_problem(response, 404, "not_found")
    assert len(stored(client, Passkey)) == 1


def test_deleting_the_account_deletes_its_passkeys(client: TestClient) -> None:
    account = Account(client)
    account.register()
    deleted = client.post(
        "/auth/me/delete", json={"password": STRONG_PASSWORD}, headers=account.auth
    )
    assert deleted.status_code == 204
    assert stored(client, Passkey) == []


def test_a_deleted_passkey_signs_in_no_more(client: TestClient) -> None:
    account = Account(client)
    passkey = account.register()
    assert client.delete(f"/auth/passkeys/{passkey['id']}", headers=account.auth).status_code == 204
    started = login_options(client)

    answer = sign_in(client, started["ceremony"], account.authenticator.get(started["options"]))

    assert_problem(answer, 401, "passkey_invalid")


def test_one_assertion_raced_from_six_threads_signs_in_once(client: TestClient) -> None:
    account = Account(client)
    account.register()
    started = login_options(client)
    answer = account.authenticator.get(started["options"])
    start = threading.Barrier(6)

    def attempt(_: int) -> int:
        start.wait(timeout=5)
        return int(sign_in(client, started["ceremony"], answer).status_code)

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))

    assert statuses == [200, 401, 401, 401, 401, 401]
    assert len(events(client, "login_success")) == 1


def test_a_passkey_added_before_the_address_was_proven_goes_with_a_reset(
    client: TestClient,
) -> None:
    """A squatter on an unverified address must not keep a way in after the owner's
    reset: as for TOTP, the reset link (which proves the mailbox) takes it off."""
    account = Account(client)
    account.register()
    with Session(client.app.state.container.engine) as session:  # type: ignore[attr-defined]
        user = session.exec(select(User)).one()
        factors.remove_unproven(session, user, ClientInfo(None, None, None))
        session.commit()

    assert stored(client, Passkey) == []
    assert client.get("/auth/me", headers=account.auth).json()["passkeys"] == 0
    assert [e.reason for e in events(client, "mfa_reset")] == ["enrolled_before_address_verified"]


def _answer(account: Account) -> tuple[str, dict[str, Any]]:
    started = login_options(account.client)
    return started["ceremony"], account.authenticator.get(started["options"])


def _with(credential: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    return {**credential, "response": {**credential["response"], field: value}}


HOSTILE_ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "malformed base64url": lambda c: _with(c, "authenticatorData", "!!not*base64url!!"),
    "CBOR that does not parse": lambda c: _with(c, "authenticatorData", "_w"),
    "huge clientDataJSON": lambda c: _with(c, "clientDataJSON", "A" * 40_000),
    "wrong types": lambda c: {**c, "response": ["not", "an", "object"]},
    "a number for the id": lambda c: {**c, "id": 12345},
    "NUL bytes": lambda c: _with(c, "signature", "\u0000" * 8),
    "no response": lambda c: {"id": c["id"], "type": "public-key"},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_hostile_sign_in_answer_is_one_401_and_echoes_nothing(
    client: TestClient, name: str
) -> None:
    account = Account(client)
    account.register()
    ceremony, credential = _answer(account)

    answer = sign_in(client, ceremony, HOSTILE_ANSWERS[name](credential))

    assert_problem(answer, 401, "passkey_invalid")
    assert "AAAA" not in answer.text
    assert credential["id"] not in answer.text


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_hostile_registration_is_a_400_and_adds_nothing(client: TestClient, name: str) -> None:
    account = Account(client)
    started = account.options()
    credential = account.authenticator.create(started["options"])
    # A registration's binary field is the attestation object (authenticatorData and
    # signature belong to sign-ins).
    in_attestation = {
        "malformed base64url": "!!not*base64url!!",
        "CBOR that does not parse": "_w",
        "NUL bytes": "\u0000" * 8,
    }
    if name in in_attestation:
        hostile = _with(credential, "attestationObject", in_attestation[name])
    else:
        hostile = HOSTILE_ANSWERS[name](credential)

    response = client.post(
        "/auth/passkeys/register/verify",
        json={"ceremony": started["ceremony"], "credential": hostile},
        headers=account.auth,
    )

    assert_problem(response, 400, "passkey_invalid")
    assert stored(client, Passkey) == []


@pytest.mark.parametrize(
    "body",
    [
        {"ceremony": "x" * 43, "credential": {}, "extra": 1},
        {"ceremony": "x\u0000" * 20, "credential": {}},
        {"ceremony": "x" * 43, "credential": "a string"},
        {"ceremony": "x" * 43},
    ],
)
def test_a_malformed_body_is_a_422(client: TestClient, body: dict[str, Any]) -> None:
    assert_problem(client.post("/auth/passkeys/login/verify", json=body), 422, "validation_error")
