from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Longer than any real code, redirect URL or one-time code; anything longer is refused
# by validation before it reaches a service.
CODE_MAX_LENGTH = 128
REDIRECT_MAX_LENGTH = 2048


class ProviderOut(BaseModel):
    id: str = Field(description="Used in /auth/oauth/{id}/authorize.")
    name: str = Field(description="What to show on the button.")


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH)


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redirect_to: str = Field(min_length=1, max_length=REDIRECT_MAX_LENGTH)


class LinkStarted(BaseModel):
    authorize_url: str = Field(description="Send the browser here (a full-page navigation).")


class IdentityOut(BaseModel):
    id: uuid.UUID
    provider: str
    email: str | None
    created_at: datetime
