"""The /orgs API's bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from authapi.schemas.common import NO_CONTROL_PATTERN, Email, StrictBody, no_control_characters

OrgRoleName = Literal["owner", "admin", "member"]
Slug = Annotated[
    str,
    Field(
        min_length=3,
        max_length=40,
        pattern=r"^[a-z0-9-]{3,40}$",
        description="Lower-case letters, digits and `-`; unique.",
    ),
]
OrgName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(no_control_characters),
]
# Invitation tokens are 43 URL-safe characters; anything else cannot be one.
InvitationToken = Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


def _trimmed(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class OrgCreate(StrictBody):
    name: OrgName
    slug: Slug

    _name = field_validator("name")(classmethod(lambda cls, v: _trimmed(v)))


class OrgPatch(StrictBody):
    name: OrgName | None = None
    slug: Slug | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: _trimmed(v)))


class OrgOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
    role: OrgRoleName = Field(description="The caller's role in the organization.")


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: OrgRoleName
    joined_at: datetime


class RoleChange(StrictBody):
    role: OrgRoleName


class InvitationCreate(StrictBody):
    email: Email
    role: OrgRoleName = "member"


class InvitationOut(BaseModel):
    id: uuid.UUID
    email: str
    role: OrgRoleName
    created_at: datetime
    expires_at: datetime


class InvitationAccept(StrictBody):
    token: InvitationToken
