from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class AuthEventOut(BaseModel):
    id: uuid.UUID
    event_type: str
    actor_id: uuid.UUID | None = Field(
        description="The admin who did it, when it was not the user (the /admin API)."
    )
    reason: str | None
    email: str | None
    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime
    count: int = Field(
        ge=1,
        description=(
            "How many requests the event stands for: 1, except where repeated anonymous "
            "rejections from one IP within one minute were recorded as one event."
        ),
    )


class AuthEventPage(BaseModel):
    items: list[AuthEventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next (older) page; null on the last page."
    )
