"""Annotated dependencies, so that endpoints read like prose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection

from authapi import errors
from authapi.body_limit import validate_large_body
from authapi.container import Container
from authapi.request_info import client_info
from authapi.services.account import AccountService
from authapi.services.admin import AdminService
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal
from authapi.services.email_links import EmailLinkService
from authapi.services.email_login import EmailLoginService
from authapi.services.identities import IdentityService
from authapi.services.login import LoginService
from authapi.services.mfa import MfaService
from authapi.services.oauth import OAuthService
from authapi.services.orgs import OrgService
from authapi.services.passkeys import PasskeyService
from authapi.services.sessions import SessionService
from authapi.transport import RefreshTransport
from authapi.unit_of_work import UnitOfWork, read_unit, request_unit

T = TypeVar("T")


def container_of(request: Request) -> Container:
    """The app's one piece of state (main.create_app puts it there)."""
    container: Container = request.app.state.container
    return container


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    container = container_of(request)
    # `async with`, not `async for`: an exception thrown in at this `yield` must
    # reach the unit's rollback now, not when a finalizer gets to it.
    async with request_unit(container.engine, container.side) as uow:
        yield uow


# scope="function": commit before the response is sent, so a client never sees a 201
# for a write that then fails (FastAPI >= 0.118 otherwise cleans up after sending).
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


# Dependencies that do no I/O are `async def`: FastAPI would run a plain `def` in a
# worker thread, a hop that costs more than the work.


class Reads:
    """Read-only work on the read pool (db.ReadPool), as the token check runs: for the
    endpoints that only read and would otherwise pay a unit of work's transaction
    and a hop to the request thread pool (more than their queries cost)."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        side = self._container.side

        def read(connection: Connection) -> T:
            with read_unit(connection, side) as uow:
                return work(uow)

        return await self._container.reads.run(read)


async def get_reads(request: Request) -> Reads:
    return Reads(container_of(request))


ReadsDep = Annotated[Reads, Depends(get_reads)]


async def get_client_info(request: Request) -> ClientInfo:
    return client_info(request)


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


async def get_login(request: Request) -> LoginService:
    return container_of(request).login


async def get_sessions(request: Request) -> SessionService:
    return container_of(request).sessions


async def get_account(request: Request) -> AccountService:
    return container_of(request).account


async def get_email_links(request: Request) -> EmailLinkService:
    return container_of(request).email_links


async def get_mfa(request: Request) -> MfaService:
    return container_of(request).mfa


async def get_oauth(request: Request) -> OAuthService:
    return container_of(request).oauth


async def get_identities(request: Request) -> IdentityService:
    return container_of(request).identities


async def get_passkeys(request: Request) -> PasskeyService:
    return container_of(request).passkeys


async def get_email_login(request: Request) -> EmailLoginService:
    return container_of(request).email_login


async def get_orgs(request: Request) -> OrgService:
    return container_of(request).orgs


async def get_admin(request: Request) -> AdminService:
    return container_of(request).admin


async def get_transport(request: Request) -> RefreshTransport:
    return container_of(request).transport


LoginDep = Annotated[LoginService, Depends(get_login)]
SessionsDep = Annotated[SessionService, Depends(get_sessions)]
AccountDep = Annotated[AccountService, Depends(get_account)]
EmailLinksDep = Annotated[EmailLinkService, Depends(get_email_links)]
MfaDep = Annotated[MfaService, Depends(get_mfa)]
TransportDep = Annotated[RefreshTransport, Depends(get_transport)]
OAuthDep = Annotated[OAuthService, Depends(get_oauth)]
IdentitiesDep = Annotated[IdentityService, Depends(get_identities)]
PasskeysDep = Annotated[PasskeyService, Depends(get_passkeys)]
AdminDep = Annotated[AdminService, Depends(get_admin)]
OrgsDep = Annotated[OrgService, Depends(get_orgs)]
EmailLoginDep = Annotated[EmailLoginService, Depends(get_email_login)]


class PrincipalScheme(OAuth2PasswordBearer):
    """The bearer token, checked: the security scheme and the token check in one
    dependency, so FastAPI solves one level for every protected request, not two.

    Checking the token is a read that comes before the request's own work: it runs
    on the read pool (db.ReadPool), so that a read-only endpoint such as /auth/me
    needs no unit of work (and no second thread hop to end one). The check comes
    from the container, not as a dependency of its own, for the same reason; and
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
        container = container_of(request)
        check = container.token_check
        return await container.reads.run(
            lambda connection: check.authenticate(connection, token, lambda: client_info(request))
        )


CurrentPrincipal = Annotated[Principal, Depends(PrincipalScheme())]


async def require_owner(user_id: uuid.UUID, principal: CurrentPrincipal) -> Principal:
    """The `{user_id}` in the path must be the caller's own."""
    if user_id != principal.user.id:
        raise errors.Forbidden("You may only access your own resources.")
    return principal


OwnerPrincipal = Annotated[Principal, Depends(require_owner)]


async def require_account_holder(principal: CurrentPrincipal) -> Principal:
    """The account's own holder, not an admin impersonating them: changes to how the
    account signs in (password, email, factors, passkeys, identities, logging out
    everywhere, deletion) are refused to an impersonated session (403)."""
    if principal.impersonator_id is not None:
        raise errors.ImpersonationForbidden
    return principal


AccountHolder = Annotated[Principal, Depends(require_account_holder)]


async def require_admin(principal: CurrentPrincipal) -> Principal:
    """An admin, as the database says now (the token check read the role with the
    session): a demotion holds on the very next request. Never through an
    impersonated session."""
    if not principal.user.is_admin or principal.impersonator_id is not None:
        raise errors.Forbidden("This needs an administrator.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


async def validate_large_body_after_token(request: Request, _principal: CurrentPrincipal) -> None:
    """body_limit.validate_large_body once the token is checked (the same check the
    endpoint gets: solved once), so that a stranger's large body costs no validation."""
    await validate_large_body(request)


# For the `dependencies` of routers whose every endpoint takes the bearer token.
TokenThenLargeBody = Depends(validate_large_body_after_token)


async def require_listed_origin(request: Request) -> None:
    """The transport's Origin check (cookie mode's guard against login CSRF, see
    transport.CookieTransport.check_origin) before any other work."""
    container_of(request).transport.check_origin(request)


# For `dependencies=[...]` of the routes that set or read the refresh token: it runs
# before the endpoint's own dependencies.
ListedOrigin = Depends(require_listed_origin)
