"""Property-based API testing: schemathesis generates requests from the app's own
OpenAPI schema, sends them to the app, and checks every response against it (no
5xx, documented status codes, content types, headers and bodies).

schemathesis' pytest loaders do not work with pytest 9 (`from_fixture` fails on
`Function._nodeid`), so each operation's strategy is run with hypothesis directly,
inside an ordinary test that gets both databases from our fixtures.

Strings are drawn from all of Unicode (schemathesis' default is UTF-8-encodable
text; NUL and other control characters included), positive and negative cases
alike. What schemathesis never draws (lone surrogates, raw header bytes, control
characters in fields whose schema forbids them, headers the schema does not
declare) is sent by test_hostile_inputs.py.
"""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from support import STRONG_PASSWORD, bearer, unique_email

EXAMPLES_PER_OPERATION = 30


def test_every_operation_conforms_to_the_schema(make_client: Callable[..., TestClient]) -> None:
    client = make_client(
        rate_limit_auth="1000000/minute",
        rate_limit_refresh="1000000/minute",
        login_failure_limit=1000000,
    )
    email = unique_email("schemathesis")
    signup = client.post("/auth/signup", json={"email": email, "password": STRONG_PASSWORD})
    token = signup.json()["access_token"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    schema.config.generation.codec = None  # any code point, not only UTF-8-safe text
    assert schema.config.generation.allow_x00

    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /auth/signup",
        "POST /auth/login",
        "POST /auth/token",
        "POST /auth/logout",
        "POST /auth/logout-all",
        "GET /auth/me",
        "GET /auth/sessions",
        "GET /api/{user_id}/auth-events",
        "GET /health",
        "PATCH /auth/me",
        "POST /auth/password/change",
        "POST /auth/password/forgot",
        "POST /auth/password/reset",
        "POST /auth/email/verify",
        "POST /auth/email/verify/resend",
        "POST /auth/email/change",
        "POST /auth/me/delete",
        "POST /auth/mfa/totp/setup",
        "POST /auth/mfa/totp/confirm",
        "POST /auth/mfa/verify",
        "POST /auth/mfa/totp/disable",
        "POST /auth/mfa/recovery-codes",
    }
    for operation in operations:
        if operation.label.startswith("POST /auth/logout"):
            continue  # run last: they revoke the token the other operations use
        _explore(operation, token)
    for operation in operations:
        if operation.label.startswith("POST /auth/logout"):
            _explore(operation, token)


# Schema-valid but refused on purpose: the password policy (common-password list, no
# email in the password) is more than JSON Schema can say, so a valid-looking
# signup may get 422 weak_password; email-validator refuses reserved domains such as
# `.test` that the `email` format admits; control characters are refused in names
# and passwords (the schema says so with a pattern, which the generator does not
# always follow); a made-up link token is well-formed and still 400 link_invalid; a
# made-up password is 400 wrong_password, a made-up code 400 invalid_code, a made-up
# passkey credential 400 passkey_invalid.
SEMANTIC_REFUSALS = {
    "POST /auth/passkeys/register/options",
    "POST /auth/passkeys/register/verify",
    "PATCH /auth/passkeys/{passkey_id}",
    "POST /auth/signup",
    "POST /auth/password/forgot",
    "PATCH /auth/me",
    "POST /auth/password/reset",
    "POST /auth/password/change",
    "POST /auth/email/verify",
    "POST /auth/email/change",
    "POST /auth/me/delete",
    "POST /auth/mfa/totp/setup",
    "POST /auth/mfa/totp/confirm",
    "POST /auth/mfa/totp/disable",
    "POST /auth/mfa/recovery-codes",
    # Names and reasons (control characters, refused by a validator), a random token
    # of an invitation that does not exist, the past `until` of a disable.
    "POST /auth/email-login/verify",
    "POST /auth/email-login",
    "POST /orgs",
    "PATCH /orgs/{org_id}",
    "POST /orgs/invitations/accept",
    "POST /orgs/{org_id}/invitations",
    "POST /admin/users",
    "PATCH /admin/users/{user_id}",
    "POST /admin/users/{user_id}/disable",
}


def _explore(operation: schemathesis.APIOperation, token: str) -> None:
    excluded = [checks.positive_data_acceptance] if operation.label in SEMANTIC_REFUSALS else []

    @given(case=operation.as_strategy(), authorized=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case, authorized: bool) -> None:
        headers = bearer(token) if authorized else None
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()
