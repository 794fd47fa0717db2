"""The login, session and token-check services on a real migrated database (SQLite
file and PostgreSQL), no HTTP: built by the app's own container, each call in a
unit of work ended as a request's is (commit on success, roll back when the
service raises, failures' audit rows written apart)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from passlib.hash import bcrypt_sha256
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from authapi import errors
from authapi.config import Settings
from authapi.container import Container
from authapi.models import AuthEvent, AuthSession, User
from authapi.security import PasswordHasher, TokenConfig, decode_access_token
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal
from authapi.services.sessions import IssuedToken
from authapi.unit_of_work import new_unit
from support import FAST_ROUNDS, STRONG_PASSWORD, unique_email

CLIENT = ClientInfo(ip_address="203.0.113.9", user_agent="pytest-agent", request_id="req-123")


@pytest.fixture
def make_service(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Container]]:
    """The app's container for these settings (the real throttle, on memory storage)."""
    made: list[Container] = []

    def make(**overrides: Any) -> Container:
        made.append(Container(make_settings(**overrides)))
        return made[-1]

    yield make
    for container in made:
        container.close()


@pytest.fixture
def service(make_service: Callable[..., Container]) -> Container:
    return make_service()


@pytest.fixture
def engine(service: Container) -> Engine:
    return service.engine


def signup(service: Container, engine: Engine, email: str) -> IssuedToken:
    with service.unit_of_work() as uow:
        _user, issued = service.login.signup(uow, email, STRONG_PASSWORD, "Test User", CLIENT)
    assert issued is not None
    return issued


def login(
    service: Container, engine: Engine, email: str, password: str = STRONG_PASSWORD
) -> IssuedToken:
    with service.unit_of_work() as uow:
        issued = service.login.login(uow, email, password, CLIENT)
    assert isinstance(issued, IssuedToken)  # these accounts have no second factor
    return issued


def authenticate(service: Container, token: str) -> Principal:
    with service.engine.connect() as connection:
        return service.token_check.authenticate(connection, token, lambda: CLIENT)


def disable(service: Container, user_id: uuid.UUID) -> None:
    with service.unit_of_work() as uow:
        user = uow.session.get(User, user_id)
        assert user is not None
        service.sessions.disable_user(uow, user)


def stored_user(engine: Engine, email: str) -> User:
    with Session(engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        session.expunge(user)
        return user


def events_for(engine: Engine, email: str) -> list[AuthEvent]:
    with Session(engine) as session:
        rows = session.exec(
            select(AuthEvent)
            .where(AuthEvent.email == email)
            .order_by(col(AuthEvent.created_at), col(AuthEvent.id))
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def session_rows(engine: Engine, user_id: uuid.UUID) -> list[AuthSession]:
    with Session(engine) as session:
        rows = session.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def session_id_of(tokens: TokenConfig, token: str) -> uuid.UUID:
    return decode_access_token(tokens, token).session_id


# --- signup and login --------------------------------------------------------------


def test_signup_then_login_issue_distinct_live_sessions(
    service: Container, engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    email = unique_email()
    tokens = service.tokens

    signed_up = signup(service, engine, email)
    logged_in = login(service, engine, email)

    assert signed_up.access_token != logged_in.access_token
    assert signed_up.user.id == logged_in.user.id
    first = session_id_of(tokens, signed_up.access_token)
    second = session_id_of(tokens, logged_in.access_token)
    assert first != second
    assert {row.id for row in session_rows(engine, signed_up.user.id)} == {first, second}
    assert signed_up.expires_in == logged_in.expires_in == 24 * 3600

    for issued, session_id in ((signed_up, first), (logged_in, second)):
        principal = authenticate(service, issued.access_token)
        assert principal.user.id == signed_up.user.id
        assert principal.session_id == session_id

    user = stored_user(engine, email)
    assert user.last_login_at is not None
    assert [event.event_type for event in events_for(engine, email)] == [
        "signup",
        "login_success",
    ]


def test_signup_stores_a_hash_never_the_password(
    service: Container, engine: Engine, make_hasher: Callable[[int], PasswordHasher]
) -> None:
    email = unique_email()
    signup(service, engine, email)

    user = stored_user(engine, email)

    assert STRONG_PASSWORD not in user.password_hash
    assert make_hasher(FAST_ROUNDS).verify(STRONG_PASSWORD, user.password_hash)


def test_login_upgrades_a_hash_below_the_configured_cost(
    make_service: Callable[..., Container],
    engine: Engine,
    make_hasher: Callable[[int], PasswordHasher],
) -> None:
    email = unique_email()
    signup(make_service(bcrypt_rounds=FAST_ROUNDS), engine, email)
    old_hash = stored_user(engine, email).password_hash
    assert bcrypt_sha256.from_string(old_hash).rounds == FAST_ROUNDS

    stronger = make_service(bcrypt_rounds=FAST_ROUNDS + 1)
    login(stronger, engine, email)

    new_hash = stored_user(engine, email).password_hash
    assert new_hash != old_hash
    assert bcrypt_sha256.from_string(new_hash).rounds == FAST_ROUNDS + 1
    assert make_hasher(FAST_ROUNDS + 1).verify(STRONG_PASSWORD, new_hash)
    # And the user can still log in with the upgraded hash.
    assert login(stronger, engine, email).user.email == email


def test_login_at_the_configured_cost_keeps_the_stored_hash(
    service: Container, engine: Engine
) -> None:
    email = unique_email()
    signup(service, engine, email)
    before = stored_user(engine, email).password_hash

    login(service, engine, email)

    assert stored_user(engine, email).password_hash == before


# --- failures are audited even though the request rolls back -------------------------


def test_failed_logins_are_audited_despite_the_rollback(service: Container, engine: Engine) -> None:
    email, nobody = unique_email(), unique_email("nobody")
    user_id = signup(service, engine, email).user.id

    with pytest.raises(errors.InvalidCredentials):
        login(service, engine, email, "Wrong7Password!")
    with pytest.raises(errors.InvalidCredentials):
        login(service, engine, nobody, STRONG_PASSWORD)

    [bad_password] = [e for e in events_for(engine, email) if e.event_type == "login_failure"]
    assert bad_password.reason == "bad_password"
    assert bad_password.user_id == user_id
    assert bad_password.ip_address == CLIENT.ip_address
    assert bad_password.user_agent == CLIENT.user_agent
    assert bad_password.request_id == CLIENT.request_id

    [unknown] = events_for(engine, nobody)
    assert unknown.event_type == "login_failure"
    assert unknown.reason == "unknown_email"
    assert unknown.user_id is None


def test_disable_user_revokes_every_session(
    service: Container, engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    email = unique_email()
    first = signup(service, engine, email)
    second = login(service, engine, email)

    disable(service, first.user.id)

    assert all(row.revoked_at is not None for row in session_rows(engine, first.user.id))
    for token in (first.access_token, second.access_token, second.access_token + "="):
        with pytest.raises(errors.TokenRevoked):
            authenticate(service, token)


def test_disabled_user_login_is_invalid_credentials_and_audited_as_disabled(
    service: Container, engine: Engine
) -> None:
    email = unique_email()
    user_id = signup(service, engine, email).user.id
    disable(service, user_id)
    sessions_before = len(session_rows(engine, user_id))

    with pytest.raises(errors.InvalidCredentials) as disabled:
        login(service, engine, email, STRONG_PASSWORD)  # the right password
    with pytest.raises(errors.InvalidCredentials) as wrong:
        login(service, engine, email, "Wrong7Password!")

    # The same answer as a wrong password: disabling does not reveal the account.
    assert str(disabled.value) == str(wrong.value)
    assert disabled.value.code == wrong.value.code == "invalid_credentials"
    failures = [e for e in events_for(engine, email) if e.event_type == "login_failure"]
    assert [e.reason for e in failures] == ["disabled", "bad_password"]
    assert all(e.user_id == user_id for e in failures)
    assert len(session_rows(engine, user_id)) == sessions_before
    assert stored_user(engine, email).last_login_at is None


def test_logout_revokes_the_token_even_when_re_encoded(service: Container, engine: Engine) -> None:
    """Revocation keys on the signed session id, so `token + "="` is revoked too."""
    email = unique_email()
    kept = signup(service, engine, email)
    dropped = login(service, engine, email)

    principal = authenticate(service, dropped.access_token)
    with service.unit_of_work() as uow:
        service.sessions.logout(uow, principal, CLIENT)

    for token in (dropped.access_token, dropped.access_token + "="):
        with pytest.raises(errors.TokenRevoked):
            authenticate(service, token)
    assert authenticate(service, kept.access_token).user.id == kept.user.id


# --- per-account throttle --------------------------------------------------------------


@pytest.mark.parametrize("account_exists", [True, False], ids=["account", "no-account"])
def test_too_many_failures_for_one_email_are_throttled(
    make_service: Callable[..., Container], engine: Engine, account_exists: bool
) -> None:
    limit = 3
    service = make_service(login_failure_limit=limit, login_failure_window_seconds=900)
    email, bystander = unique_email("target"), unique_email("bystander")
    if account_exists:
        signup(service, engine, email)
    signup(service, engine, bystander)

    for _ in range(limit):
        with pytest.raises(errors.InvalidCredentials):
            login(service, engine, email, "Wrong7Password!")

    with pytest.raises(errors.TooManyAttempts) as throttled:
        login(service, engine, email, STRONG_PASSWORD)  # even the right password waits

    retry_after = int(throttled.value.headers["Retry-After"])
    assert 1 <= retry_after <= 901
    assert throttled.value.status == 429
    assert throttled.value.code == "too_many_attempts"
    # The audit trail survives the rollback: every failure, then the refusal.
    assert [e.event_type for e in events_for(engine, email) if e.event_type != "signup"] == [
        "login_failure"
    ] * limit + ["too_many_attempts"]
    # The throttle is per email: another account is unaffected.
    assert login(service, engine, bystander).user.email == bystander


def test_failures_below_the_limit_do_not_throttle(
    make_service: Callable[..., Container], engine: Engine
) -> None:
    limit = 3
    service = make_service(login_failure_limit=limit)
    email = unique_email()
    signup(service, engine, email)

    for _ in range(limit - 1):
        with pytest.raises(errors.InvalidCredentials):
            login(service, engine, email, "Wrong7Password!")

    assert login(service, engine, email).user.email == email


def test_end_reads_keeps_what_was_read_and_refuses_a_session_that_wrote(
    service: Container, engine: Engine
) -> None:
    """Login and signup end their read before bcrypt: what they read stays loaded,
    and a session that has written anything, flushed or not, is refused rather
    than committed halfway through its request."""
    email = unique_email()
    with service.unit_of_work() as uow:
        uow.session.add(User(email=email, password_hash="x"))
    unit = new_unit(engine, service.side)
    try:
        user = unit.session.exec(select(User).where(col(User.email) == email)).one()
        unit.end_reads()
        assert not unit.session.in_transaction()
        assert user.email == email  # no reload: the attributes stayed
        user.name = "Ada"
        with pytest.raises(RuntimeError, match="wrote"):
            unit.end_reads()
        unit.session.flush()
        with pytest.raises(RuntimeError, match="wrote"):
            unit.end_reads()
    finally:
        unit.rollback()
    expiring = type(unit)(Session(engine), service.side)
    with pytest.raises(RuntimeError, match="expire_on_commit"):
        expiring.end_reads()
    expiring.rollback()
