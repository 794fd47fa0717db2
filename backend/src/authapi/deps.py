"""Annotated dependencies, so that endpoints read like prose."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from authapi import errors
from authapi.db import session_scope
from authapi.rate_limit import client_ip
from authapi.services.audit import ClientInfo
from authapi.services.auth import AuthService, Principal

# OAuth2 password flow in the schema makes Swagger's "Authorize" button log in through
# /auth/token; auto_error is off so a missing token gets our problem+json 401.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    yield from session_scope(request.app.state.engine)


# scope="function": commit before the response is sent, so a client never sees a 201
# for a write that then fails (FastAPI >= 0.118 otherwise cleans up after sending).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
    )


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


def get_principal(
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
    token: Annotated[str | None, Depends(bearer_scheme)],
) -> Principal:
    return auth.authenticate(session, token, client)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_owner(user_id: uuid.UUID, principal: CurrentPrincipal) -> Principal:
    """The `{user_id}` in the path must be the caller's own."""
    if user_id != principal.user.id:
        raise errors.Forbidden("You may only access your own resources.")
    return principal


OwnerPrincipal = Annotated[Principal, Depends(require_owner)]
