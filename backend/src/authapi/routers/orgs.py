"""Organizations over HTTP: an org, its members and roles, invitations by email.
Every route takes the bearer token; a caller who is not a member of the org gets
404, never 403."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from authapi.deps import (
    ClientInfoDep,
    CurrentPrincipal,
    OrgsDep,
    TokenThenLargeBody,
    UnitOfWorkDep,
)
from authapi.models import Invitation, Organization, OrgRole
from authapi.rate_limit import RateLimitedRoute
from authapi.repositories.orgs import MemberRow
from authapi.routers.responses import problems
from authapi.schemas.orgs import (
    InvitationAccept,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    OrgCreate,
    OrgOut,
    OrgPatch,
    RoleChange,
)
from authapi.services.orgs import OrgChanges

router = APIRouter(prefix="/orgs", tags=["organizations"], dependencies=[TokenThenLargeBody])
# Mails whoever is named: limited per client IP like the other mailing routes.
mailing_router = APIRouter(
    prefix="/orgs",
    tags=["organizations"],
    route_class=RateLimitedRoute,
    dependencies=[TokenThenLargeBody],
)


def _org(org: Organization, role: str) -> OrgOut:
    return OrgOut(id=org.id, name=org.name, slug=org.slug, created_at=org.created_at, role=role)


def _member(row: MemberRow) -> MemberOut:
    return MemberOut(
        user_id=row.user_id, email=row.email, name=row.name, role=row.role, joined_at=row.joined_at
    )


def _invitation(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=problems(401, 409, 422))
def create_org(
    body: OrgCreate,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> OrgOut:
    """A new organization, with the caller as its owner."""
    return _org(*orgs.create(uow, principal, body.name, body.slug, client))


@router.get("", responses=problems(401))
def list_orgs(principal: CurrentPrincipal, uow: UnitOfWorkDep, orgs: OrgsDep) -> list[OrgOut]:
    """The organizations the caller belongs to, with their role in each."""
    return [_org(org, role) for org, role in orgs.list_mine(uow, principal)]


@router.post("/invitations/accept", responses=problems(400, 401, 403, 409, 422))
def accept_invitation(
    body: InvitationAccept,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> OrgOut:
    """Join with the mailed link's token: once, and only as the invited address,
    verified."""
    return _org(*orgs.accept(uow, principal, body.token, client))


@router.get("/{org_id}", responses=problems(401, 404, 422))
def show_org(
    org_id: uuid.UUID, principal: CurrentPrincipal, uow: UnitOfWorkDep, orgs: OrgsDep
) -> OrgOut:
    return _org(*orgs.show(uow, principal, org_id))


@router.patch("/{org_id}", responses=problems(401, 403, 404, 409, 422))
def update_org(
    org_id: uuid.UUID,
    body: OrgPatch,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
) -> OrgOut:
    """Owners and admins; fields left out stay."""
    changes = OrgChanges(name=body.name, slug=body.slug)
    return _org(*orgs.update(uow, principal, org_id, changes, frozenset(body.model_fields_set)))


@router.delete(
    "/{org_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
def delete_org(
    org_id: uuid.UUID,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> None:
    """Owners only; members and invitations go with it."""
    orgs.delete(uow, principal, org_id, client)


@router.get("/{org_id}/members", responses=problems(401, 404, 422))
def list_members(
    org_id: uuid.UUID, principal: CurrentPrincipal, uow: UnitOfWorkDep, orgs: OrgsDep
) -> list[MemberOut]:
    return [_member(row) for row in orgs.members(uow, principal, org_id)]


@router.patch("/{org_id}/members/{user_id}", responses=problems(401, 403, 404, 409, 422))
def change_role(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RoleChange,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> MemberOut:
    """An owner gives any role; an admin turns members into admins and back. The last
    owner stays one (409 last_owner)."""
    return _member(orgs.change_role(uow, principal, org_id, user_id, OrgRole(body.role), client))


@router.delete(
    "/{org_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
def remove_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> None:
    """Owners remove anyone, admins members and admins, and anyone may leave (their
    own id). The last owner cannot leave or be removed (409 last_owner)."""
    orgs.remove_member(uow, principal, org_id, user_id, client)


@mailing_router.post(
    "/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 422, 429),
)
def invite(
    request: Request,
    response: Response,
    org_id: uuid.UUID,
    body: InvitationCreate,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> InvitationOut:
    """Mail a link (ORG_INVITE_URL) that lets the address join with `role` for 7 days;
    an earlier invitation to it is revoked. A member's address: 409 already_member."""
    return _invitation(orgs.invite(uow, principal, org_id, body.email, OrgRole(body.role), client))


@router.get("/{org_id}/invitations", responses=problems(401, 403, 404, 422))
def list_invitations(
    org_id: uuid.UUID, principal: CurrentPrincipal, uow: UnitOfWorkDep, orgs: OrgsDep
) -> list[InvitationOut]:
    """The pending invitations, newest first (owners and admins)."""
    return [_invitation(i) for i in orgs.pending_invitations(uow, principal, org_id)]


@router.delete(
    "/{org_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
def revoke_invitation(
    org_id: uuid.UUID,
    invitation_id: uuid.UUID,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    orgs: OrgsDep,
    client: ClientInfoDep,
) -> None:
    """The link stops working."""
    orgs.revoke_invitation(uow, principal, org_id, invitation_id, client)
