"""Annotated dependencies, so that endpoints read like prose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from authapi import errors
from authapi.body_limit import validate_large_body
from authapi.db import ReadPool, request_session
from authapi.rate_limit import client_ip, limit_key
from authapi.services.account import AccountService
from authapi.services.audit import ClientInfo
from authapi.services.auth import AuthService, Principal
from authapi.services.mfa import MfaService


async def get_session(request: Request) -> AsyncIterator[Session]:
    # `async with`, not `async for`: an exception thrown in at this `yield` must
    # reach request_session's rollback now, not when a finalizer gets to it.
    async with request_session(request.app.state.engine) as session:
        yield session


# scope="function": commit before the response is sent, so a client never sees a 201
# for a write that then fails (FastAPI >= 0.118 otherwise cleans up after sending).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Dependencies that do no I/O are `async def`: FastAPI would run a plain `def` in a
# worker thread, a hop that costs more than the work.


def client_info(request: Request) -> ClientInfo:
    ip_address = client_ip(request)
    return ClientInfo(
        ip_address=ip_address,
        user_agent=header_text(request, "user-agent"),
        request_id=getattr(request.state, "request_id", None),
        limit_key=limit_key(ip_address, request.app.state.settings.rate_limit_ipv6_prefix),
    )


def header_text(request: Request, name: str) -> str | None:
    """A header as the client most likely meant it: UTF-8 where its bytes are valid
    UTF-8 (a user agent naming a device in its own script), else Latin-1, which is
    how HTTP reads them."""
    value = request.headers.get(name)
    if value is None:
        return None
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


async def get_client_info(request: Request) -> ClientInfo:
    return client_info(request)


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


async def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_account_service(request: Request) -> AccountService:
    service: AccountService = request.app.state.account_service
    return service


AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]


async def get_mfa_service(request: Request) -> MfaService:
    service: MfaService = request.app.state.mfa_service
    return service


MfaServiceDep = Annotated[MfaService, Depends(get_mfa_service)]


class PrincipalScheme(OAuth2PasswordBearer):
    """The bearer token, checked: the security scheme and the token check in one
    dependency, so FastAPI solves one level for every protected request, not two.

    Checking the token is a read that comes before the request's own work: it runs
    on the read pool (db.ReadPool), so that a read-only endpoint such as /auth/me
    needs no request transaction (and no second thread hop to end one). The service
    comes from the request, not as a dependency of its own, for the same reason; and
    the client is described only if a rejected token's audit row needs it.
    """

    def __init__(self) -> None:
        # OAuth2 password flow in the schema: Swagger's "Authorize" button logs in
        # through /auth/token. auto_error is off: a missing token gets our
        # problem+json 401.
        super().__init__(
            tokenUrl="/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
        )

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:  # no hop, and a 401 even while the database is down
            raise errors.TokenMissing
        auth: AuthService = request.app.state.auth_service
        reads: ReadPool = request.app.state.reads
        return await reads.run(
            lambda connection: auth.authenticate(connection, token, lambda: client_info(request))
        )


CurrentPrincipal = Annotated[Principal, Depends(PrincipalScheme())]


async def require_owner(user_id: uuid.UUID, principal: CurrentPrincipal) -> Principal:
    """The `{user_id}` in the path must be the caller's own."""
    if user_id != principal.user.id:
        raise errors.Forbidden("You may only access your own resources.")
    return principal


OwnerPrincipal = Annotated[Principal, Depends(require_owner)]


async def validate_large_body_after_token(request: Request, _principal: CurrentPrincipal) -> None:
    """body_limit.validate_large_body once the token is checked (the same check the
    endpoint gets: solved once), so that a stranger's large body costs no validation."""
    await validate_large_body(request)


# For the `dependencies` of routers whose every endpoint takes the bearer token.
TokenThenLargeBody = Depends(validate_large_body_after_token)
