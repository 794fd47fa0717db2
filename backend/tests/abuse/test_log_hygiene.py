"""No password (accepted or rejected), token, password hash or the JWT secret ever
reaches a log record, stdout/stderr or a response, even with every logger at DEBUG."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from authapi.models import User
from support import TEST_SECRET, bearer, unique_email


@dataclass
class Exchange:
    """A response, and the tokens it is allowed to contain (the ones it issued)."""

    label: str
    response: httpx.Response
    issued: set[str] = field(default_factory=set)


def expect(response: httpx.Response, status: int, code: str | None = None) -> httpx.Response:
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code, response.text
    return response


def token_parts(token: str) -> list[str]:
    """The token and its signature: either alone in a log would be a leak."""
    return [token, token.rsplit(".", 1)[-1]]


def hash_parts(password_hash: str) -> list[str]:
    """The whole hash and its digest, in case a log line truncates the hash."""
    return [password_hash, password_hash.rsplit("$", 1)[-1]]


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts: list[str] = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(formatter.format(record))  # includes exc_text and stack_info
        texts.append(repr(vars(record)))  # `extra=` fields and raw args too
    return texts


def test_full_auth_cycle_leaks_nothing(
    roomy_client: TestClient,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    client = roomy_client
    marker = uuid.uuid4().hex[:8]
    good = f"Hygiene7Horse!{marker}"
    wrong = f"Wrong7Guess!{marker}"
    weak = f"alllowercase{marker}"  # no upper-case letter: rejected by the rules
    malformed = f"Malformed7Body!{marker}"
    broken_json = f"Broken7Json!{marker}"
    oversized = "Aa1" + secrets.token_urlsafe(1200)  # beyond the 1024-char input cap
    form_wrong = f"Form7Wrong!{marker}"
    passwords = [good, wrong, weak, malformed, broken_json, oversized, oversized[:40], form_wrong]
    email = unique_email("hygiene")

    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    capfd.readouterr()  # start from clean stdout/stderr

    exchanges: list[Exchange] = []

    signed_up = expect(client.post("/auth/signup", json={"email": email, "password": good}), 201)
    signup_token: str = signed_up.json()["access_token"]
    exchanges.append(Exchange("signup", signed_up, {signup_token}))

    login = expect(client.post("/auth/login", json={"email": email, "password": good}), 200)
    login_token: str = login.json()["access_token"]
    exchanges.append(Exchange("login", login, {login_token}))

    exchanges.append(
        Exchange(
            "wrong password",
            expect(
                client.post("/auth/login", json={"email": email, "password": wrong}),
                401,
                "invalid_credentials",
            ),
        )
    )
    exchanges.append(
        Exchange(
            "weak password",
            expect(
                client.post("/auth/signup", json={"email": unique_email("weak"), "password": weak}),
                422,
                "weak_password",
            ),
        )
    )
    exchanges.append(
        Exchange(
            "malformed email",
            expect(
                client.post("/auth/signup", json={"email": "not an email", "password": malformed}),
                422,
                "validation_error",
            ),
        )
    )
    exchanges.append(
        Exchange(
            "broken json",
            expect(
                client.post(
                    "/auth/signup",
                    content=f'{{"email": "{unique_email("broken")}", "password": "{broken_json}"',
                    headers={"Content-Type": "application/json"},
                ),
                422,
                "validation_error",
            ),
        )
    )
    exchanges.append(
        Exchange(
            "oversized password",
            expect(
                client.post("/auth/login", json={"email": email, "password": oversized}),
                422,
                "validation_error",
            ),
        )
    )
    form_login = expect(client.post("/auth/token", data={"username": email, "password": good}), 200)
    form_token: str = form_login.json()["access_token"]
    exchanges.append(Exchange("form login", form_login, {form_token}))
    exchanges.append(
        Exchange(
            "form wrong password",
            expect(
                client.post("/auth/token", data={"username": email, "password": form_wrong}),
                401,
                "invalid_credentials",
            ),
        )
    )

    exchanges.append(
        Exchange("me", expect(client.get("/auth/me", headers=bearer(login_token)), 200))
    )
    exchanges.append(
        Exchange("logout", expect(client.post("/auth/logout", headers=bearer(login_token)), 204))
    )
    exchanges.append(
        Exchange(
            "me after logout",
            expect(client.get("/auth/me", headers=bearer(login_token)), 401, "token_revoked"),
        )
    )
    tampered = signup_token[:-4] + ("AAAA" if not signup_token.endswith("AAAA") else "BBBB")
    exchanges.append(
        Exchange(
            "tampered token",
            expect(client.get("/auth/me", headers=bearer(tampered)), 401, "token_invalid"),
        )
    )

    # Snapshot everything that was logged or printed before reading the database:
    # the test's own queries are not the app's logs.
    records = list(caplog.records)
    log_text = caplog.text
    out, err = capfd.readouterr()

    with Session(client.app.state.container.engine) as session:
        hashes = list(session.exec(select(User.password_hash)).all())
    assert hashes, "the signup stored a hash"

    tokens = [signup_token, login_token, form_token, tampered]
    forbidden: dict[str, str] = {}
    for password in passwords:
        forbidden[password] = "a password"
    for token in tokens:
        for part in token_parts(token):
            forbidden[part] = "an access token"
    for password_hash in hashes:
        for part in hash_parts(password_hash):
            forbidden[part] = "a password hash"
    forbidden[TEST_SECRET] = "the JWT secret"

    # The capture works: the HTTP client's own records reached the root logger.
    assert any("/auth/login" in record.getMessage() for record in records), (
        "caplog saw nothing; the test would be vacuous"
    )

    haystacks = {
        "log record": record_texts(records),
        "caplog text": [log_text],
        "stdout": [out],
        "stderr": [err],
    }
    leaks = [
        f"{what} in {where}"
        for secret, what in forbidden.items()
        for where, texts in haystacks.items()
        if any(secret in text for text in texts)
    ]
    assert not leaks, leaks

    for exchange in exchanges:
        exposed = exchange.response.text + repr(dict(exchange.response.headers))
        for secret, what in forbidden.items():
            if secret in exchange.issued or any(
                secret in token_parts(token) for token in exchange.issued
            ):
                continue
            assert secret not in exposed, f"{what} in the {exchange.label} response"
