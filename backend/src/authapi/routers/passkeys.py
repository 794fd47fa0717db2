"""Passkeys over HTTP: registering and managing them while logged in, and signing in
with one (no password, no account named: discoverable credentials)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from authapi.body_limit import LargeBody
from authapi.deps import (
    AccountHolder,
    ClientInfoDep,
    CurrentPrincipal,
    ListedOrigin,
    LoginDep,
    PasskeysDep,
    TransportDep,
    UnitOfWorkDep,
)
from authapi.models import Passkey
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.routers.token_answers import NO_STORE, auth_response
from authapi.schemas.auth import AuthResponse
from authapi.schemas.passkeys import (
    CeremonyOut,
    LoginOptionsRequest,
    PasskeyAnswer,
    PasskeyOut,
    RegisterOptionsRequest,
    RegisterRequest,
    RenameRequest,
)
from authapi.services.passkeys import Ceremony

router = APIRouter(prefix="/auth/passkeys", tags=["passkeys"])
# Signing in takes no bearer token: limited per client IP (RATE_LIMIT_PASSKEY, main.py
# registers it); it sets the refresh cookie in cookie mode, so the Origin check too.
login_router = APIRouter(
    prefix="/auth/passkeys",
    tags=["passkeys"],
    route_class=RateLimitedRoute,
    dependencies=[ListedOrigin, LargeBody],
)


@router.post("/register/options", responses=problems(400, 401, 403, 422, 429))
def register_options(
    response: Response,
    body: RegisterOptionsRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    passkeys: PasskeysDep,
    client: ClientInfoDep,
) -> CeremonyOut:
    """Options for `navigator.credentials.create()`: a discoverable, user-verified
    credential, none of the account's passkeys again. The password is asked for when
    the account has one."""
    response.headers.update(NO_STORE)
    return _ceremony(passkeys.register_options(uow, principal, body.password, client))


@router.post(
    "/register/verify",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409, 422),
)
def register(
    body: RegisterRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    passkeys: PasskeysDep,
    client: ClientInfoDep,
) -> PasskeyOut:
    """The browser's new credential for the ceremony: 409 `passkey_exists` when its id
    is registered already, 400 `passkey_invalid` when it does not verify."""
    added = passkeys.register(uow, principal, body.ceremony, body.credential, body.name, client)
    return _out(added)


@router.get("", responses=problems(401))
def list_passkeys(
    principal: CurrentPrincipal, uow: UnitOfWorkDep, passkeys: PasskeysDep
) -> list[PasskeyOut]:
    return [_out(passkey) for passkey in passkeys.list(uow, principal)]


@router.patch("/{passkey_id}", responses=problems(401, 403, 404, 422))
def rename(
    passkey_id: uuid.UUID,
    body: RenameRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    passkeys: PasskeysDep,
) -> PasskeyOut:
    return _out(passkeys.rename(uow, principal, passkey_id, body.name))


@router.delete(
    "/{passkey_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
def delete(
    passkey_id: uuid.UUID,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    passkeys: PasskeysDep,
    client: ClientInfoDep,
) -> None:
    """409 `last_login_method` when it is the account's only way in."""
    passkeys.delete(uow, principal, passkey_id, client)


@login_router.post("/login/options", responses=problems(422, 429))
def login_options(
    request: Request,
    response: Response,
    body: LoginOptionsRequest,
    uow: UnitOfWorkDep,
    passkeys: PasskeysDep,
) -> CeremonyOut:
    """Options for `navigator.credentials.get()` with an empty `allowCredentials`: the
    browser offers the passkeys it has for this site, and the answer is the same
    whether or not any account exists."""
    response.headers.update(NO_STORE)
    return _ceremony(passkeys.login_options(uow))


@login_router.post("/login/verify", responses=problems(401, 403, 422, 429))
def login(
    request: Request,
    body: PasskeyAnswer,
    response: Response,
    uow: UnitOfWorkDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse:
    """The passkey's answer: the login's tokens (no second step: a user-verified
    passkey is two factors). Any failure is 401 `passkey_invalid`."""
    issued = logins.passkey(uow, body.ceremony, body.credential, client)
    return auth_response(issued, response, transport)


def _ceremony(ceremony: Ceremony) -> CeremonyOut:
    return CeremonyOut(ceremony=ceremony.ceremony, options=ceremony.options)


def _out(passkey: Passkey) -> PasskeyOut:
    return PasskeyOut.model_validate(passkey, from_attributes=True)
