"""Every error, ours or the framework's, leaves as `application/problem+json`."""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from authapi import errors, metrics
from authapi.body_limit import FirstValidationErrors
from authapi.deps import container_of
from authapi.models import AuthEventType
from authapi.rate_limit import LimitExceeded, limit_headers
from authapi.request_info import client_info
from authapi.services import audit

logger = logging.getLogger(__name__)

DB_RETRY_AFTER_SECONDS = 5
TOKEN_ENDPOINT = "/auth/token"  # noqa: S105

_HTTP_ERRORS: dict[int, type[errors.AppError]] = {
    401: errors.TokenMissing,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
}


# OAuth2's own `error` (RFC 6749 5.2) beside our `code` on every refusal of the token
# endpoint, so that OAuth2 client libraries understand it (RFC 6749 has no code for
# a rate limit; `temporarily_unavailable` is the nearest).
OAUTH2_ERRORS = {
    "invalid_credentials": "invalid_grant",
    "token_invalid": "invalid_grant",
    "token_expired": "invalid_grant",
    "token_revoked": "invalid_grant",
    "email_not_verified": "invalid_grant",
    "mfa_required": "invalid_grant",
    "token_missing": "invalid_request",
    "validation_error": "invalid_request",
    "unsupported_grant_type": "unsupported_grant_type",
    "too_many_attempts": "temporarily_unavailable",
    "rate_limited": "temporarily_unavailable",
}


def problem_response(request: Request, error: errors.AppError) -> JSONResponse:
    if request.url.path == TOKEN_ENDPOINT and error.code in OAUTH2_ERRORS:
        error.extensions["error"] = OAUTH2_ERRORS[error.code]
    if error.status == 429:
        metrics.count_rate_limited(error.code, request.scope)
    # A rate-limited endpoint's error carries the limit headers as its success would.
    headers = {**getattr(request.state, "limit_headers", {}), **error.headers}
    return JSONResponse(
        errors.problem_body(error, getattr(request.state, "request_id", None)),
        status_code=error.status,
        headers=headers,
        media_type=errors.PROBLEM_JSON,
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    exc = cast(errors.AppError, exc)
    if isinstance(exc, errors.OAuthRedirect):
        return RedirectResponse(
            exc.location, status_code=302, headers={"Cache-Control": "no-store"}
        )
    return problem_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's default 422 echoes the input (a rejected password included); ours
    names the field and the rule only, for the first few fields (an object of 700,000
    unknown keys is as many errors), with the count of all."""
    exc = cast(RequestValidationError, exc)
    found = exc.errors()
    count = exc.error_count if isinstance(exc, FirstValidationErrors) else len(found)
    field_errors = [_field_error(error) for error in found[: errors.MAX_LISTED_ERRORS]]
    error = errors.ValidationFailed(errors=field_errors, error_count=count)
    return problem_response(request, error)


def _field_error(error: dict[str, Any]) -> dict[str, str]:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    message = str(error.get("msg", "Invalid value."))
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return {
        "field": ".".join(location) or "body",
        "message": message,
        "code": str(error.get("type", "invalid")),
    }


# FastAPI's answer to a body it cannot decode (not UTF-8, say): the same client
# mistake as broken JSON, which is a 422 validation_error.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        field_error = {
            "field": "body",
            "message": "The body is not valid JSON.",
            "code": "json_invalid",
        }
        return problem_response(request, errors.ValidationFailed(errors=[field_error]))
    error_type = _HTTP_ERRORS.get(exc.status_code)
    if error_type is not None:
        error = error_type()
    else:
        error = errors.AppError(str(exc.detail))
        error.status = exc.status_code  # type: ignore[misc]
        error.code = "http_error"  # type: ignore[misc]
    error.headers.update(exc.headers or {})
    return problem_response(request, error)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(LimitExceeded, exc)
    container = container_of(request)
    error = errors.RateLimited()
    # Reading the window for the headers is storage I/O: keep it off the event loop.
    headers = await run_in_threadpool(
        limit_headers, container.limiter, request.state.view_rate_limit
    )
    error.headers.update(headers)
    errors.with_retry_after(error, int(headers.get("X-RateLimit-Reset", "1")))
    response = problem_response(request, error)
    row = audit.failure(AuthEventType.RATE_LIMITED, client_info(request))
    await run_in_threadpool(container.side.try_run, row)
    return response


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    # The driver message can name hosts and users: it goes to the log only.
    logger.error("database error: %s", type(exc).__name__, exc_info=exc)
    error = errors.with_retry_after(errors.ServiceUnavailable(), DB_RETRY_AFTER_SECONDS)
    return problem_response(request, error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(LimitExceeded, _rate_limited)
    # Unreachable, restarted, locked or read-only database; a full pool. Integrity
    # errors are not outages: they are handled where they are expected, else a 500.
    for db_error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(db_error, _database_down)
