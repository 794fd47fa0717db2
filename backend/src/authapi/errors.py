"""One error type for the whole app, rendered as RFC 9457 problem details.

Services raise `AppError` subclasses; `main.py` installs handlers that turn these and
every framework error (validation, 404/405, rate limits, database outages, bugs) into
the same `application/problem+json` shape with a stable `code`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"
# A body of thousands of wrong fields gets a short answer: the first few, and how many.
MAX_LISTED_ERRORS = 20


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    detail: ClassVar[str] = "An unexpected error occurred."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
        error_count: int | None = None,
    ) -> None:
        """`error_count`: how many errors were found, when `errors` holds only the
        first of them (the default is their number)."""
        self.detail_text = detail or self.detail
        self.headers = dict(headers or {})
        self.errors = errors[:MAX_LISTED_ERRORS] if errors is not None else None
        self.error_count = len(errors or []) if error_count is None else error_count
        if self.errors is not None and self.error_count > len(self.errors):
            listed = len(self.errors)
            self.detail_text += f" {self.error_count} errors; the first {listed} are listed."
        # Extension members of the problem (RFC 9457 3.2), e.g. OAuth2's `error`.
        self.extensions: dict[str, Any] = {}
        super().__init__(self.detail_text)

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"
    detail = "The request is not valid."


class WeakPassword(AppError):
    status = 422
    code = "weak_password"
    detail = "The password does not meet the password rules."


class EmailTaken(AppError):
    status = 409
    code = "email_taken"
    detail = "An account with this email already exists."


class WrongPassword(AppError):
    status = 400
    code = "wrong_password"
    detail = "The password is not correct."


class PasswordNotSet(AppError):
    status = 400
    code = "password_not_set"
    detail = (
        "This account has no password yet (it signs in with a provider): set one with "
        "POST /auth/password/forgot and the mailed link, then confirm with it."
    )


class LinkInvalid(AppError):
    status = 400
    code = "link_invalid"
    detail = "This link is invalid, expired or already used; ask for a new one."


class InvalidCode(AppError):
    status = 400
    code = "invalid_code"
    detail = "The code is not valid; use the current code of your authenticator app."


class MfaRequired(AppError):
    status = 403
    code = "mfa_required"
    detail = "This account has a second factor: log in at /auth/login, then /auth/mfa/verify."


class MfaAlreadyEnabled(AppError):
    status = 409
    code = "mfa_already_enabled"
    detail = "The second factor is already on; turn it off first to enrol again."


class MfaNotEnabled(AppError):
    status = 409
    code = "mfa_not_enabled"
    detail = "The second factor is not on for this account."


class EmailNotVerified(AppError):
    status = 403
    code = "email_not_verified"
    detail = "Confirm your email address first: follow the link we mailed you."


class InvalidCredentials(AppError):
    status = 401
    code = "invalid_credentials"
    detail = "Invalid email or password."

    def __init__(self, detail: str | None = None) -> None:
        # RFC 9110: a 401 names the scheme that would work.
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class _TokenError(AppError):
    """401s about the bearer token; the header tells clients how to authenticate."""

    status = 401
    token_sent: ClassVar[bool] = True

    def __init__(self, detail: str | None = None) -> None:
        challenge = 'Bearer error="invalid_token"' if self.token_sent else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


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


class UnsupportedGrantType(AppError):
    status = 400
    code = "unsupported_grant_type"
    detail = "grant_type must be `password` or `refresh_token`."


class OriginNotAllowed(AppError):
    status = 403
    code = "origin_not_allowed"
    detail = "In cookie mode only pages of the origins in CORS_ORIGINS may call this endpoint."


class InvalidClient(AppError):
    """Introspection without the credentials of a client in INTROSPECTION_CLIENTS."""

    status = 401
    code = "invalid_client"
    detail = "Introspection needs the HTTP Basic credentials of a listed client."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="authapi"'})
        self.extensions["error"] = "invalid_client"  # RFC 6749 5.2, for OAuth clients


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    detail = "You may not access this resource."


class NotFound(AppError):
    status = 404
    code = "not_found"
    detail = "The resource was not found."


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    detail = "The method is not allowed for this resource."


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    detail = "The request body is too large."


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    detail = "Too many requests; retry later."


class TooManyAttempts(AppError):
    status = 429
    code = "too_many_attempts"
    detail = "Too many failed login attempts for this account; retry later."


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    detail = "The service is temporarily unavailable; retry shortly."


class InternalError(AppError):
    status = 500
    code = "internal_error"
    detail = "An unexpected error occurred."


def with_retry_after(error: AppError, seconds: int) -> AppError:
    error.headers["Retry-After"] = str(max(1, int(seconds)))
    return error


def problem_body(error: AppError, request_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "detail": error.detail_text,
        "code": error.code,
        "request_id": request_id,
    }
    if error.errors is not None:
        body["errors"] = error.errors
        body["error_count"] = error.error_count
    body.update(error.extensions)
    return body


class RedirectNotAllowed(AppError):
    status = 400
    code = "redirect_not_allowed"
    detail = "redirect_to is not one of the addresses this service may send a browser back to."


class OAuthStateInvalid(AppError):
    status = 400
    code = "oauth_state_invalid"
    detail = "This sign-in cannot be finished: start it again."


class OAuthCodeInvalid(AppError):
    status = 400
    code = "oauth_code_invalid"
    detail = "The sign-in code is unknown, used or expired: sign in again."


class LastLoginMethod(AppError):
    status = 409
    code = "last_login_method"
    detail = "This is the account's only way in: set a password or link another first."


class PasskeyInvalid(AppError):
    status = 400
    code = "passkey_invalid"
    detail = "The passkey's answer could not be verified: start again with new options."


class PasskeySignInFailed(AppError):
    """Every failure of a passkey sign-in: one answer, whatever went wrong."""

    status = 401
    code = "passkey_invalid"
    detail = "The passkey could not sign you in: start again with new options."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PasskeyExists(AppError):
    status = 409
    code = "passkey_exists"
    detail = "This passkey is registered already."


class LastAdmin(AppError):
    status = 409
    code = "last_admin"
    detail = "This is the last administrator: make another one first."


class UserDisabled(AppError):
    status = 409
    code = "user_disabled"
    detail = "The account is disabled."


class ImpersonationForbidden(AppError):
    """An impersonated session asked to change how the account signs in."""

    status = 403
    code = "impersonation_forbidden"
    detail = "An impersonated session cannot change how the account signs in."


class SlugTaken(AppError):
    status = 409
    code = "slug_taken"
    detail = "Another organization uses this slug."


class AlreadyMember(AppError):
    status = 409
    code = "already_member"
    detail = "This address belongs to a member of the organization already."


class LastOwner(AppError):
    status = 409
    code = "last_owner"
    detail = "This is the organization's last owner: make another member an owner first."


class InvitationEmailMismatch(AppError):
    status = 403
    code = "invitation_email_mismatch"
    detail = "This invitation is for another address: sign in with the invited one."


class OAuthRedirect(AppError):
    """A social sign-in refused at its callback: the browser goes back to the SPA with
    `error=<code>` in the URL (the handler answers 302), and the request's writes are
    rolled back like any refusal's."""

    status = 302
    code = "oauth_redirect"
    detail = "The sign-in was refused."

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location
