from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from authapi.models.user import EMAIL_MAX_LENGTH


def canonical_email(value: str, *, lookup: bool = False) -> str:
    """The one form an address is stored in and looked up by, wherever it comes from
    (signup, login, forgot, the shell): trimmed, email-validator's normalized form
    (the domain IDNA-decoded, so `xn--exmple-cua.com` and `exämple.com` are one
    domain; NFC), lower-cased. A refused address raises ValueError, unless `lookup`:
    then it is only trimmed, lower-cased and composed, and matches no account."""
    candidate = value.strip()
    try:
        if "<" in candidate or ">" in candidate or any(ch.isspace() for ch in candidate):
            raise ValueError("enter a bare email address such as name@example.com")
        candidate = validate_email(candidate, check_deliverability=False).normalized
    except ValueError as exc:  # EmailNotValidError is one
        if not lookup:
            raise ValueError(str(exc)) from None
    return unicodedata.normalize("NFC", candidate.lower())


def normalize_email(value: str) -> str:
    """Signup's rule: a valid bare address (no display names, no DNS), canonical."""
    return canonical_email(value)


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(normalize_email),
]


def normalize_login_email(value: str) -> str:
    """The canonical form of what was typed, never a refusal of its shape: an address
    that could never have signed up simply matches no account and gets the same 401
    as any other unknown email. Control characters are refused (422): PostgreSQL
    cannot even compare text with NUL."""
    return canonical_email(no_control_characters(value), lookup=True)


# Login takes what the user typed; only signup decides what a valid address is.
LoginEmail = Annotated[
    str,
    Field(min_length=1, max_length=EMAIL_MAX_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(normalize_login_email),
]


def no_control_characters(value: str) -> str:
    """NUL and other control characters (and lone surrogates) are never part of a
    name or a password anyone typed; PostgreSQL would refuse NUL in text anyway."""
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters")
    return value


# The same rule, stated in the OpenAPI schema (checked by the validator above).
NO_CONTROL_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff]*$"


Name = Annotated[
    str,
    Field(max_length=100, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(no_control_characters),
]


class StrictBody(BaseModel):
    """A request body that refuses unknown fields (422), so a misspelt field is an
    error the client sees, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str
    message: str
    code: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
                "detail": "Invalid email or password.",
                "code": "invalid_credentials",
                "request_id": "3f1c2b9e8a7d4c6b",
            }
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[FieldError] | None = None
    # With `errors`: how many were found; `errors` lists the first 20 only.
    error_count: int | None = None
