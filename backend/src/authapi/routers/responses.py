"""OpenAPI descriptions of the error responses, so that every documented status
appears in the schema with the problem+json model."""

from __future__ import annotations

from typing import Any

from authapi.errors import PROBLEM_JSON
from authapi.schemas.common import Problem

_DESCRIPTIONS = {
    401: "Missing, invalid, expired or revoked credentials (`WWW-Authenticate: Bearer`).",
    403: "The resource belongs to another user (`forbidden`).",
    409: "The email is already registered (`email_taken`).",
    422: "The request is not valid (`validation_error`, `weak_password`); see `errors`.",
    429: "Rate limited (`rate_limited`, `too_many_attempts`); see `Retry-After`.",
    503: "A dependency is down (`service_unavailable`); see `Retry-After`.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in (*statuses, 503)
    }
