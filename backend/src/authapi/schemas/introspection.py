from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field


class Actor(BaseModel):
    sub: uuid.UUID = Field(description="The admin impersonating the user (RFC 8693 `act`).")


class IntrospectionOut(BaseModel):
    """RFC 7662 2.2. Only `active` for a token that is not live."""

    active: bool
    sub: uuid.UUID | None = Field(default=None, description="The user.")
    sid: uuid.UUID | None = Field(default=None, description="The session.")
    exp: int | None = Field(default=None, description="Expiry, seconds since the epoch.")
    iat: int | None = Field(default=None, description="Issued at, seconds since the epoch.")
    iss: str | None = None
    aud: str | None = None
    role: Literal["user", "admin"] | None = Field(
        default=None, description="The user's role now (a change holds at once)."
    )
    token_type: Literal["access_token"] | None = None
    act: Actor | None = Field(default=None, description="Present for an impersonation.")
