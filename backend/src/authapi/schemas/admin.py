"""The /admin API's bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator

from authapi.models.user import DISABLED_REASON_MAX_LENGTH, EMAIL_MAX_LENGTH
from authapi.schemas.auth import PASSWORD_INPUT_MAX, UserOut
from authapi.schemas.common import (
    NO_CONTROL_PATTERN,
    Email,
    Name,
    StrictBody,
    no_control_characters,
)

Role = Literal["user", "admin"]

# What a person types into the console's search box: a prefix, any case, no control
# characters (PostgreSQL cannot compare text with NUL).
SearchQuery = Annotated[
    str,
    Field(
        min_length=1,
        max_length=EMAIL_MAX_LENGTH,
        json_schema_extra={"pattern": NO_CONTROL_PATTERN},
        description="A prefix of the email or the name, in any case; matched "
        "literally (`%` and `_` are characters like any other).",
    ),
    AfterValidator(no_control_characters),
]
Cursor = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_-]*$")]
# The security log's exact filters.
LookupText = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(no_control_characters),
]
EVENT_TYPE = r"^[a-z_]+$"
IP_OR_NETWORK = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"


class AdminUserOut(UserOut):
    disabled: bool = Field(description="True while the account cannot sign in.")
    disabled_reason: str | None
    disabled_until: datetime | None = Field(
        description="When a disable ends by itself; null for one without an end."
    )


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same `query`) for the next page; null "
        "on the last page."
    )


class AdminUserCreate(StrictBody):
    email: Email
    name: Name | None = None
    role: Role = "user"
    password: (
        Annotated[
            str,
            Field(
                max_length=PASSWORD_INPUT_MAX,
                json_schema_extra={"pattern": NO_CONTROL_PATTERN},
            ),
            AfterValidator(no_control_characters),
        ]
        | None
    ) = Field(
        default=None,
        description="Left out, the account has no password and a set-password link is "
        "mailed to it.",
    )

    @field_validator("name")
    @classmethod
    def _trim_name(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class AdminUserPatch(StrictBody):
    name: Name | None = None
    role: Role | None = None
    email_verified: bool | None = None

    @field_validator("name")
    @classmethod
    def _trim_name(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


DisabledReason = Annotated[
    str,
    Field(
        max_length=DISABLED_REASON_MAX_LENGTH,
        json_schema_extra={"pattern": NO_CONTROL_PATTERN},
    ),
    AfterValidator(no_control_characters),
]


class DisableRequest(StrictBody):
    reason: DisabledReason | None = None
    until: AwareDatetime | None = Field(
        default=None,
        description="An ISO 8601 time with its offset; the account comes back by itself "
        "after it. Left out, it stays disabled until enabled.",
    )


class ImpersonationOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the session ends (an hour at most).")
    refresh_token: None = Field(default=None, description="Always null: it cannot be renewed.")
