"""The verifier's refusals, answered as RFC 9457 problems in authapi's own shape, so a
client reads one error format from authapi and from every service behind it.

Nothing of the token goes into a detail or a log line: the details are fixed texts.
"""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # authapi's rule for X-Request-ID


class VerificationError(Exception):
    """A request refused by the verifier: an HTTP status and a stable `code`."""

    status: ClassVar[int] = 401
    code: ClassVar[str] = "token_invalid"
    detail: ClassVar[str] = "The access token is invalid."

    def __init__(self, detail: str | None = None) -> None:
        self.detail_text = detail or self.detail
        super().__init__(self.detail_text)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class _TokenError(VerificationError):
    """RFC 6750 3: a 401 names the scheme, and says `invalid_token` when one was sent."""

    token_sent: ClassVar[bool] = True

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"' if self.token_sent else "Bearer"}


class TokenMissing(_TokenError):
    code = "token_missing"
    detail = "Authentication is required: send 'Authorization: Bearer <token>'."
    token_sent = False


class TokenInvalid(_TokenError):
    code = "token_invalid"
    detail = "The access token is invalid."


class TokenExpired(_TokenError):
    code = "token_expired"
    detail = "The access token has expired; log in again."


class TokenRevoked(_TokenError):
    code = "token_revoked"
    detail = "The access token has been revoked; log in again."


class Forbidden(VerificationError):
    status = 403
    code = "forbidden"  # authapi's own code for a missing role
    detail = "You may not access this resource."


class JwksUnavailable(VerificationError):
    """authapi's keys cannot be fetched: not the caller's fault, so not a 401."""

    status = 503
    code = "jwks_unavailable"
    detail = "The signing keys cannot be fetched from authapi; retry shortly."


class IntrospectionUnavailable(VerificationError):
    """authapi cannot say whether the token is live; we fail closed."""

    status = 503
    code = "introspection_unavailable"
    detail = "authapi cannot confirm the session now; retry shortly."


def request_id_of(request: Request) -> str:
    """The app's own request id if it keeps one, else the caller's if sane, else new."""
    kept = getattr(request.state, "request_id", None)
    if isinstance(kept, str):
        return kept
    incoming = request.headers.get("x-request-id", "")
    return incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def problem_response(request: Request, exc: Exception) -> JSONResponse:
    """The exception handler `Verifier.install` adds."""
    if not isinstance(exc, VerificationError):  # pragma: no cover  (registered for ours)
        raise exc
    request_id = request_id_of(request)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(exc.status).phrase,
        "status": exc.status,
        "detail": exc.detail_text,
        "code": exc.code,
        "request_id": request_id,
    }
    return JSONResponse(
        body,
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers={**exc.headers, "X-Request-ID": request_id},
    )
