"""Bodies of the account endpoints. Unknown fields are refused (422), so a typo in
a field name never passes for a request that changes nothing."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from authapi.schemas.auth import PASSWORD_INPUT_MAX
from authapi.schemas.common import (
    NO_CONTROL_PATTERN,
    Email,
    LoginEmail,
    Name,
    StrictBody,
    no_control_characters,
)

Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PASSWORD_INPUT_MAX,
        json_schema_extra={"pattern": NO_CONTROL_PATTERN},
    ),
    AfterValidator(no_control_characters),
]
# Mailed link tokens are 43 URL-safe characters; anything else cannot be one.
LinkToken = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `token` parameter of the mailed link.",
    ),
]


class ProfileUpdate(StrictBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"name": "Ada"}})

    name: Name | None = Field(
        default=None, description="Null (or blank) clears the name; omitted leaves it."
    )

    @field_validator("name")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class PasswordChangeRequest(StrictBody):
    current_password: Password
    new_password: Password


class PasswordForgotRequest(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"email": "ada@example.com"}}
    )

    email: Email


class PasswordResetRequest(StrictBody):
    token: LinkToken
    new_password: Password


class EmailVerifyRequest(StrictBody):
    token: LinkToken


class EmailChangeRequest(StrictBody):
    new_email: Email
    password: Password


class AccountDeleteRequest(StrictBody):
    password: Password


class Accepted(BaseModel):
    """A 202: the request is taken; what follows happens by mail."""

    detail: str


class EmailLoginRequest(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"email": "ada@example.com"}}
    )

    email: Email


EmailCode = Annotated[
    str,
    Field(
        min_length=6,
        max_length=6,
        pattern=r"^[0-9]{6}$",
        description="The 6-digit code of the mail.",
    ),
]


class EmailLoginVerify(StrictBody):
    """The mailed link's `token`, or the `email` with the mail's `code`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["token"]},
                {"required": ["email", "code"]},
            ],
            "example": {"email": "ada@example.com", "code": "042317"},
        },
    )

    token: LinkToken | None = None
    email: LoginEmail | None = None
    code: EmailCode | None = None

    @model_validator(mode="after")
    def _one_way(self) -> EmailLoginVerify:
        by_token = self.token is not None
        by_code = self.email is not None and self.code is not None
        if by_token == by_code or (by_token and (self.email or self.code)):
            raise ValueError("send either the link's token, or the email with the code")
        return self
