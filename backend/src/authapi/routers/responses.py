"""OpenAPI descriptions of the error responses, so that every documented status
appears in the schema with the problem+json model."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from authapi.errors import PROBLEM_JSON
from authapi.schemas.common import Problem

_DESCRIPTIONS = {
    400: "Refused (`wrong_password`, `password_not_set`, `link_invalid`, `invalid_code`; "
    "at /auth/token `unsupported_grant_type`).",
    401: "Missing, invalid, expired or revoked credentials (`WWW-Authenticate: Bearer`).",
    403: "Not allowed (`forbidden`: another user's resource; `email_not_verified` at "
    "login; `mfa_required` at /auth/token for an account with the second factor on; "
    "`origin_not_allowed` in cookie mode, from a page of an origin not in CORS_ORIGINS, "
    "at every endpoint that sets or reads the refresh cookie).",
    404: "Not found (`not_found`).",
    409: "In conflict with the account's state (`email_taken`; `mfa_already_enabled`, "
    "`mfa_not_enabled` at /auth/mfa/*).",
    422: "The request is not valid (`validation_error`, `weak_password`); see `errors`.",
    429: "Rate limited (`rate_limited`, `too_many_attempts`); see `Retry-After`.",
    500: "An unexpected error (`internal_error`); details are in the server log only.",
    503: "A dependency is down (`service_unavailable`); see `Retry-After`.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in (*statuses, 500, 503)
    }


def install_problem_openapi(app: FastAPI) -> None:
    """Error responses are documented as `application/problem+json` only.

    FastAPI lists a response `model` under `application/json` as well; errors are
    never sent with that type, so the schema would promise something untrue.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        if PROBLEM_JSON in content:
                            content.pop("application/json", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
