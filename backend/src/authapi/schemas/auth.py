from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from authapi.schemas.common import (
    NO_CONTROL_PATTERN,
    Email,
    LoginEmail,
    Name,
    no_control_characters,
)

# Long enough for any real password, short enough that nobody can make us hash megabytes.
PASSWORD_INPUT_MAX = 1024


class SignupRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"email": "ada@example.com", "password": "Correct7Horse", "name": "Ada"}
        },
    )

    email: Email
    password: Annotated[
        str,
        Field(max_length=PASSWORD_INPUT_MAX, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
        AfterValidator(no_control_characters),
    ]
    name: Name | None = None

    @field_validator("name")
    @classmethod
    def _trim_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"email": "ada@example.com", "password": "Correct7Horse"}},
    )

    email: LoginEmail
    password: str = Field(min_length=1, max_length=PASSWORD_INPUT_MAX)


# Refresh tokens are 43 URL-safe characters; anything else cannot be one.
RefreshTokenText = Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class TokenForm(BaseModel):
    """The OAuth2 token endpoint's form (RFC 6749): the password grant (4.3) or the
    refresh grant (6), bounded like the JSON bodies. Which fields a grant needs is
    checked by the endpoint, which answers in OAuth2's terms too."""

    grant_type: str | None = Field(
        default=None,
        max_length=64,
        description="`password` (the default when left out) or `refresh_token`.",
    )
    username: LoginEmail | None = Field(default=None, description="The account's email.")
    password: str | None = Field(default=None, min_length=1, max_length=PASSWORD_INPUT_MAX)
    refresh_token: RefreshTokenText | None = None
    scope: str = Field(default="", max_length=1024)


class RefreshRequest(BaseModel):
    """With REFRESH_TOKEN_COOKIE=true the token comes in the cookie; send no body."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: RefreshTokenText | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str | None
    created_at: datetime
    last_login_at: datetime | None
    email_verified_at: datetime | None = Field(
        description="When the owner confirmed the address; null until then."
    )
    mfa_enabled: bool = Field(
        description="True when logging in also needs a TOTP code (or a recovery code)."
    )
    has_password: bool = Field(
        description="False for an account made by social sign-in: it can set one "
        "through the password-reset flow."
    )
    passkeys: int = Field(
        description="How many passkeys the account has (each signs in, and answers the "
        "second step)."
    )
    role: Literal["user", "admin"] = Field(
        description="`admin` may use the /admin API; read from the database on every request."
    )


_USER_FIELDS = tuple(UserOut.model_fields)


def user_fields(user: object) -> dict[str, Any]:
    """The user object's fields, read from a User or the token check's snapshot, for
    an answer that adds fields of its own to them."""
    return {name: getattr(user, name) for name in _USER_FIELDS}


class MeOut(UserOut):
    impersonated_by: uuid.UUID | None = Field(
        description="The admin signed in as this user (an impersonated session); null "
        "for the user's own sessions."
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token expires.")
    refresh_token: str | None = Field(
        default=None,
        description="Trade it at /auth/refresh for new tokens; single use. Null with "
        "REFRESH_TOKEN_COOKIE=true, where it travels in the `authapi_refresh` cookie "
        "(HttpOnly, Secure, SameSite=Strict, Path=/auth).",
    )
    refresh_expires_in: int = Field(
        description="Seconds until the session ends, however often it is refreshed."
    )


class AuthResponse(TokenResponse):
    user: UserOut


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool = Field(description="True for the session of the token making this request.")
