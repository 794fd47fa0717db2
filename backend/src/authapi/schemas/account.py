"""Bodies of the account endpoints. Unknown fields are refused (422), so a typo in
a field name never passes for a request that changes nothing."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from authapi.schemas.auth import PASSWORD_INPUT_MAX
from authapi.schemas.common import Email


def no_control_characters(value: str) -> str:
    """NUL and other control characters (and lone surrogates) are never part of a
    name or a password anyone typed; PostgreSQL would refuse NUL in text anyway."""
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters")
    return value


Password = Annotated[
    str,
    Field(min_length=1, max_length=PASSWORD_INPUT_MAX),
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


def _trimmed_name(value: str | None) -> str | None:
    if value is None:
        return None
    return no_control_characters(value).strip() or None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileUpdate(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"name": "Ada"}})

    name: Annotated[str | None, Field(max_length=100), AfterValidator(_trimmed_name)] = Field(
        default=None, description="Null (or blank) clears the name; omitted leaves it."
    )


class PasswordChangeRequest(_Strict):
    current_password: Password
    new_password: Password


class PasswordForgotRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"email": "ada@example.com"}}
    )

    email: Email


class PasswordResetRequest(_Strict):
    token: LinkToken
    new_password: Password


class EmailVerifyRequest(_Strict):
    token: LinkToken


class EmailChangeRequest(_Strict):
    new_email: Email
    password: Password


class AccountDeleteRequest(_Strict):
    password: Password
