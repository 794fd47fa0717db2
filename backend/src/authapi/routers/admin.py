"""The /admin API: the console's users and security log, for users whose role is
`admin` (read from the database with the session on every request).

Every route takes the admin's bearer token through the router's dependency, so a
route added later cannot forget it (tests walk the OpenAPI document to prove it).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from authapi.deps import (
    AdminDep,
    AdminPrincipal,
    ClientInfoDep,
    ReadsDep,
    UnitOfWorkDep,
    require_admin,
)
from authapi.models import AuthEvent, User
from authapi.routers.responses import problems
from authapi.routers.token_answers import NO_STORE
from authapi.schemas.admin import (
    EVENT_TYPE,
    IP_OR_NETWORK,
    AdminUserCreate,
    AdminUserOut,
    AdminUserPage,
    AdminUserPatch,
    Cursor,
    DisableRequest,
    ImpersonationOut,
    LookupText,
    SearchQuery,
)
from authapi.schemas.audit import AuthEventOut, AuthEventPage
from authapi.schemas.auth import user_fields
from authapi.schemas.common import canonical_email
from authapi.services.admin import Actor, AdminService, UserChanges
from authapi.services.audit import ClientInfo, EventFilter
from authapi.services.common import Principal
from authapi.unit_of_work import UnitOfWork

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Limit = Annotated[int, Query(ge=1, le=100)]


def _actor(principal: Principal, client: ClientInfo) -> Actor:
    return Actor(client=client, user_id=principal.user.id)


def _out(admin: AdminService, user: User) -> AdminUserOut:
    return AdminUserOut(
        **user_fields(user),
        disabled=admin.is_disabled(user),
        disabled_reason=user.disabled_reason,
        disabled_until=user.disabled_until,
    )


@router.get("/users", responses=problems(401, 403, 422))
async def list_users(
    reads: ReadsDep,
    admin: AdminDep,
    query: Annotated[SearchQuery | None, Query()] = None,
    limit: Limit = 20,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> AdminUserPage:
    """Users whose email or name starts with `query` (any case), by the email or name
    that matched; without a query, everyone, newest first. A page at a time."""

    def page(uow: UnitOfWork) -> AdminUserPage:
        rows, next_cursor = admin.search(uow, query, limit, cursor)
        return AdminUserPage(items=[_out(admin, user) for user in rows], next_cursor=next_cursor)

    return await reads.run(page)


@router.get("/users/{user_id}", responses=problems(401, 403, 404, 422))
async def show_user(user_id: uuid.UUID, reads: ReadsDep, admin: AdminDep) -> AdminUserOut:
    return await reads.run(lambda uow: _out(admin, admin.get(uow, user_id)))


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=problems(401, 403, 409, 422))
def create_user(
    body: AdminUserCreate,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> AdminUserOut:
    """A new account. Without a password it has none, and a set-password link (the
    reset flow) is mailed to it; with one, it signs in once the address is verified
    as for a signup."""
    user = admin.create_user(
        uow, _actor(principal, client), body.email, body.password, body.name, role=body.role
    )
    return _out(admin, user)


@router.patch("/users/{user_id}", responses=problems(401, 403, 404, 409, 422))
def update_user(
    user_id: uuid.UUID,
    body: AdminUserPatch,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> AdminUserOut:
    """Fields left out stay as they are. The last admin keeps the role (409)."""
    user = admin.get(uow, user_id)
    changes = UserChanges(
        name=body.name,
        role=body.role,
        email_verified=body.email_verified,
        fields=frozenset(body.model_fields_set),
    )
    return _out(admin, admin.update_user(uow, _actor(principal, client), user, changes))


@router.post(
    "/users/{user_id}/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
def disable_user(
    user_id: uuid.UUID,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
    body: DisableRequest | None = None,
) -> None:
    """No sign-in, and every session revoked. With `until`, the account comes back by
    itself after that time."""
    body = body or DisableRequest()
    admin.disable_user(
        uow,
        _actor(principal, client),
        admin.get(uow, user_id),
        reason=body.reason,
        until=body.until,
    )


@router.post(
    "/users/{user_id}/enable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
def enable_user(
    user_id: uuid.UUID,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> None:
    admin.enable_user(uow, _actor(principal, client), admin.get(uow, user_id))


@router.post(
    "/users/{user_id}/revoke-sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
def revoke_sessions(
    user_id: uuid.UUID,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> None:
    admin.revoke_sessions(uow, _actor(principal, client), admin.get(uow, user_id))


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
def delete_user(
    user_id: uuid.UUID,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> None:
    """As account deletion: the audit rows stay, with the email erased."""
    admin.delete_user(uow, _actor(principal, client), admin.get(uow, user_id))


@router.get("/users/{user_id}/auth-events", responses=problems(401, 403, 404, 422))
async def user_auth_events(
    user_id: uuid.UUID,
    reads: ReadsDep,
    admin: AdminDep,
    limit: Limit = 20,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> AuthEventPage:
    """One user's audit trail, newest first."""
    return await reads.run(
        lambda uow: _events(*admin.events(uow, admin.get(uow, user_id), limit, cursor))
    )


@router.get("/auth-events", responses=problems(401, 403, 422))
async def security_log(
    reads: ReadsDep,
    admin: AdminDep,
    event_type: Annotated[
        str | None, Query(alias="type", max_length=32, pattern=EVENT_TYPE)
    ] = None,
    ip: Annotated[str | None, Query(max_length=45, pattern=IP_OR_NETWORK)] = None,
    email: Annotated[LookupText | None, Query()] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> AuthEventPage:
    """The whole security log, newest first, filtered by exact type, IP and email and
    by a start time."""
    where = EventFilter(
        event_type=event_type,
        ip_address=ip,
        email=canonical_email(email, lookup=True) if email else None,
        since=since,
    )
    return await reads.run(lambda uow: _events(*admin.security_log(uow, where, limit, cursor)))


@router.post("/users/{user_id}/impersonate", responses=problems(401, 403, 404, 409, 422))
def impersonate(
    user_id: uuid.UUID,
    response: Response,
    principal: AdminPrincipal,
    uow: UnitOfWorkDep,
    admin: AdminDep,
    client: ClientInfoDep,
) -> ImpersonationOut:
    """A session as the user, for at most an hour and with no refresh token, marked
    with the admin (`impersonated_by` in `/auth/me`, `act` in the token). Never of
    another admin (403). It cannot change how the account signs in."""
    response.headers.update(NO_STORE)
    issued = admin.impersonate(uow, _actor(principal, client), admin.get(uow, user_id))
    return ImpersonationOut(access_token=issued.access_token, expires_in=issued.expires_in)


def _events(rows: list[AuthEvent], next_cursor: str | None) -> AuthEventPage:
    return AuthEventPage(
        items=[AuthEventOut.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )
