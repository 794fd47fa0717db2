from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Part = Literal["ok", "unavailable"]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="`degraded`: answering, but rate limits fell back to per-process memory."
    )
    database: Part
    rate_limit_storage: Part
