"""Bodies of the account endpoints. Unknown fields are refused (422), so a typo in
a field name never passes for a request that changes nothing."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from authapi.schemas.auth import PASSWORD_INPUT_MAX
from authapi.schemas.common import (
    NO_CONTROL_PATTERN,
    Email,
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
