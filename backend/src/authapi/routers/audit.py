from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from authapi.deps import OwnerPrincipal, UnitOfWorkDep
from authapi.routers.responses import problems
from authapi.schemas.audit import AuthEventOut, AuthEventPage
from authapi.services import audit

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/{user_id}/auth-events", responses=problems(401, 403, 422))
def list_auth_events(
    principal: OwnerPrincipal,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuthEventPage:
    """The caller's own audit trail, newest first, a page at a time."""
    rows, next_cursor = audit.events_page(uow, principal.user.id, limit, cursor)
    return AuthEventPage(
        items=[AuthEventOut.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )
