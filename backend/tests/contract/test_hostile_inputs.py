"""No 5xx from any input, on SQLite and PostgreSQL: every operation of the schema,
with NUL and other control characters, lone surrogates, odd Unicode and over-long
values in its body fields, path and query parameters, and raw bytes in the headers
a client controls (`Authorization`, `User-Agent`, `X-Request-ID`, and
`X-Forwarded-For` from a trusted proxy).

Each request starts from a schemathesis case (or, for the endpoints that can take
them without ending the test's account, from values that pass validation and reach
the database: the real email and password, a fresh signup), and hypothesis makes
some of its parts hostile. Every answer must be a 2xx or a problem+json 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from contract.hostile import (
    MAX_URL_LENGTH,
    RawRequest,
    cursors,
    forwarded_for,
    hostile_bytes,
    hostile_text,
)
from support import STRONG_PASSWORD, bearer, unique_email

EXAMPLES_PER_OPERATION = 40
PROXY = "127.0.0.1"  # the test client's address, trusted, so X-Forwarded-For is read


class Account:
    """The account the requests act as; its token is never revoked by them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.email = unique_email("hostile")
        created = client.post(
            "/auth/signup", json={"email": self.email, "password": STRONG_PASSWORD}
        )
        assert created.status_code == 201, created.text
        self.token: str = created.json()["access_token"]
        self.user_id: str = created.json()["user"]["id"]

    def fresh_token(self) -> str:
        """A session of its own, for requests that end the session they come with."""
        response = self.client.post(
            "/auth/login", json={"email": self.email, "password": STRONG_PASSWORD}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def _good_body(label: str, account: Account) -> dict[str, Any] | None:
    """A body that passes validation and reaches the database, where one is harmless."""
    return {
        "POST /auth/signup": {"email": unique_email(), "password": STRONG_PASSWORD, "name": "Ada"},
        "POST /auth/login": {"email": account.email, "password": STRONG_PASSWORD},
        "POST /auth/token": {"username": account.email, "password": STRONG_PASSWORD},
        "PATCH /auth/me": {"name": "Ada"},
        "POST /auth/password/forgot": {"email": account.email},
    }.get(label)


def _body_fields(openapi: dict[str, Any], operation: schemathesis.APIOperation) -> list[str]:
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    names: list[str] = []
    for media in content.values():
        schema = media["schema"]
        for ref in [schema.get("$ref")] + [part.get("$ref") for part in schema.get("anyOf", [])]:
            if ref:
                component = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                names += component.get("properties", {})
    return names


def test_hostile_input_anywhere_never_gets_a_5xx(make_client: Callable[..., TestClient]) -> None:
    app = make_client(
        rate_limit_auth="1000000/minute",
        rate_limit_refresh="1000000/minute",
        login_failure_limit=1000000,
        mail_rate_limit="1000000/hour",
        mail_address_limit="1000000/hour",
        trusted_proxies=[PROXY],
    ).app
    client = TestClient(app, client=(PROXY, 50000), raise_server_exceptions=False)
    account = Account(client)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    openapi = app.openapi()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19
    for operation in operations:
        _explore(client, account, operation, _body_fields(openapi, operation))


def _explore(
    client: TestClient,
    account: Account,
    operation: schemathesis.APIOperation,
    body_fields: list[str],
) -> None:
    label = operation.label
    ends_session = label.startswith("POST /auth/logout")

    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        data=st.data(),
    )
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        request = RawRequest(
            method=operation.method.upper(),
            path=operation.path,
            path_parameters=dict(case.path_parameters or {}),
            query=dict(case.query or {}),
            body=case.body if isinstance(case.body, dict) else None,
            media_type=case.media_type,
        )
        good = _good_body(label, account)
        if good is not None and data.draw(st.booleans(), label="start from a good body"):
            request.body = good
        if request.media_type and body_fields:
            request.body = _mutate_fields(data, request.body or {}, body_fields)
        if "user_id" in request.path_parameters:
            request.path_parameters["user_id"] = data.draw(
                st.one_of(st.just(account.user_id), hostile_text(valid=account.user_id)),
                label="user_id",
            )
            request.query.pop("cursor", None)
            if data.draw(st.booleans(), label="cursor"):
                request.query["cursor"] = data.draw(cursors(), label="cursor value")
            if data.draw(st.booleans(), label="hostile limit"):
                request.query["limit"] = data.draw(hostile_text(valid="20"), label="limit")
        request.headers = _headers(data, account, ends_session)
        # A hostile id and a hostile cursor together can exceed what a client sends.
        assume(len(request.url()) <= MAX_URL_LENGTH)

        response = request.send(client)

        assert response.status_code < 500, (label, response.status_code, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"]

    run()


def _mutate_fields(data: st.DataObject, body: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    mutated = dict(body)
    for name in fields:
        current = mutated.get(name)
        if data.draw(st.sampled_from([False, False, True]), label=f"hostile {name}"):
            valid = current if isinstance(current, str) else None
            mutated[name] = data.draw(hostile_text(valid=valid), label=name)
    return mutated


def _headers(
    data: st.DataObject, account: Account, ends_session: bool
) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    authorization = data.draw(st.sampled_from(["valid", "none", "hostile"]), label="authorization")
    if authorization == "valid":
        token = account.fresh_token() if ends_session else account.token
        headers += list({k.lower().encode(): v.encode() for k, v in bearer(token).items()}.items())
    elif authorization == "hostile":
        value = data.draw(hostile_bytes(), label="authorization value")
        if data.draw(st.booleans(), label="bearer prefix"):
            value = b"Bearer " + value
        headers.append((b"authorization", value))
    for name, strategy in (
        (b"user-agent", hostile_bytes()),
        (b"x-request-id", hostile_bytes()),
        (b"x-forwarded-for", forwarded_for()),
    ):
        if data.draw(st.booleans(), label=f"send {name.decode()}"):
            headers.append((name, data.draw(strategy, label=name.decode())))
    return headers
