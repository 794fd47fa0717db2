from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from authapi.deps import container_of
from authapi.errors import PROBLEM_JSON, ServiceUnavailable, problem_body, with_retry_after
from authapi.rate_limit import storage_is_up
from authapi.routers.responses import problems
from authapi.schemas.health import HealthOut
from authapi.services import health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses=problems())
async def get_health(request: Request) -> Response:
    """200 while the service can answer requests; 503 naming the part that is down.

    An unreachable rate-limit storage is `degraded`, not down: limits fail open to
    per-process memory, and pulling every instance out of a load balancer because
    Redis blinked would turn a degradation into an outage.
    """
    container = container_of(request)
    probes, limiter = container.probes, container.limiter
    database, storage = await probes.call(
        lambda: health.readiness(probes, lambda: storage_is_up(limiter))
    )
    parts = {
        "database": "ok" if database else "unavailable",
        "rate_limit_storage": "ok" if storage else "unavailable",
    }
    if database:
        body = HealthOut(status="ok" if storage else "degraded", **parts)
        return JSONResponse(body.model_dump())
    error = with_retry_after(ServiceUnavailable("The database is unreachable."), 5)
    return JSONResponse(
        {**problem_body(error, getattr(request.state, "request_id", None)), **parts},
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )
