"""Organizations: who belongs, with which role, and who may change whom.

Roles are read from the database on every request. A caller who is not a member
gets 404 for everything of the org, never 403: an org's existence is not told to
strangers. Members without the right role get 403. Every org keeps an owner: the
last one cannot leave, be removed or be demoted (409 last_owner), and an account
that is the last owner of an org with other members cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from authapi import errors
from authapi.models import AuthEventType, Invitation, Membership, Organization, OrgRole, User
from authapi.models.base import utcnow
from authapi.repositories import invitations, orgs, users
from authapi.repositories.orgs import MemberRow
from authapi.security import hash_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal, load_user
from authapi.services.mail import MailService
from authapi.unit_of_work import UnitOfWork

INVITATION_TTL = timedelta(days=7)
# Who may give which role: an admin manages members and admins, never owners.
ADMIN_MANAGES = frozenset({OrgRole.ADMIN, OrgRole.MEMBER})


@dataclass(frozen=True, slots=True)
class OrgChanges:
    name: str | None = None
    slug: str | None = None


class OrgService:
    def __init__(self, *, mail: MailService, clock: Callable[[], datetime] = utcnow) -> None:
        self._mail = mail
        self._clock = clock

    # -- the org ----------------------------------------------------------------------

    def create(
        self, uow: UnitOfWork, principal: Principal, name: str, slug: str, client: ClientInfo
    ) -> tuple[Organization, str]:
        org = Organization(name=name, slug=slug, created_at=self._clock())
        try:
            orgs.save(uow.session, org)
        except orgs.SlugAlreadyStored:
            raise errors.SlugTaken from None
        owner = Membership(
            org_id=org.id, user_id=principal.user.id, role=OrgRole.OWNER, joined_at=self._clock()
        )
        orgs.add_member(uow.session, owner)
        self._record(uow, AuthEventType.ORG_CREATED, principal, client, org)
        return org, OrgRole.OWNER

    def list_mine(self, uow: UnitOfWork, principal: Principal) -> list[tuple[Organization, str]]:
        return orgs.list_for_user(uow.session, principal.user.id)

    def show(
        self, uow: UnitOfWork, principal: Principal, org_id: uuid.UUID
    ) -> tuple[Organization, str]:
        org, me = self._member(uow, org_id, principal)
        return org, me.role

    def update(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        changes: OrgChanges,
        fields: frozenset[str],
    ) -> tuple[Organization, str]:
        org, me = self._member(uow, org_id, principal, OrgRole.OWNER, OrgRole.ADMIN)
        if "name" in fields and changes.name is not None:
            org.name = changes.name
        if "slug" in fields and changes.slug is not None:
            org.slug = changes.slug
        try:
            orgs.save(uow.session, org)
        except orgs.SlugAlreadyStored:
            raise errors.SlugTaken from None
        return org, me.role

    def delete(
        self, uow: UnitOfWork, principal: Principal, org_id: uuid.UUID, client: ClientInfo
    ) -> None:
        org, _ = self._member(uow, org_id, principal, OrgRole.OWNER)
        orgs.delete_org(uow.session, org)
        self._record(uow, AuthEventType.ORG_DELETED, principal, client, org)

    # -- members ----------------------------------------------------------------------

    def members(self, uow: UnitOfWork, principal: Principal, org_id: uuid.UUID) -> list[MemberRow]:
        self._member(uow, org_id, principal)
        return orgs.members(uow.session, org_id)

    def change_role(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        role: OrgRole,
        client: ClientInfo,
    ) -> MemberRow:
        """An owner gives any role; an admin turns members into admins and back."""
        org, me = self._member(uow, org_id, principal, OrgRole.OWNER, OrgRole.ADMIN)
        target = self._target(uow, org_id, user_id)
        if me.role == OrgRole.ADMIN and not (
            target.role in ADMIN_MANAGES and role in ADMIN_MANAGES
        ):
            raise errors.Forbidden("An admin of the organization manages members and admins only.")
        if target.role != role:
            with owner_kept(uow, target):
                orgs.set_role(uow.session, target, role)
            self._record(
                uow, AuthEventType.MEMBER_ROLE_CHANGED, principal, client, org, target, role
            )
        row = orgs.member_row(uow.session, org_id, user_id)
        if row is None:  # the member's account went meanwhile
            raise errors.NotFound("No member of the organization has this id.")
        return row

    def remove_member(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        client: ClientInfo,
    ) -> None:
        """Owners remove anyone, admins members and admins, anyone themself (leaving)."""
        leaving = user_id == principal.user.id
        roles = () if leaving else (OrgRole.OWNER, OrgRole.ADMIN)
        org, me = self._member(uow, org_id, principal, *roles)
        target = self._target(uow, org_id, user_id)
        if not leaving and me.role == OrgRole.ADMIN and target.role not in ADMIN_MANAGES:
            raise errors.Forbidden("An admin of the organization cannot remove an owner.")
        with owner_kept(uow, target):
            orgs.remove_member(uow.session, target)
        self._record(uow, AuthEventType.MEMBER_REMOVED, principal, client, org, target)

    # -- invitations ------------------------------------------------------------------

    def invite(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        email: str,
        role: OrgRole,
        client: ClientInfo,
    ) -> Invitation:
        """A 7-day invitation mailed to `email` (an earlier one to it is revoked); an
        admin invites members and admins, an owner anyone."""
        org, me = self._member(uow, org_id, principal, OrgRole.OWNER, OrgRole.ADMIN)
        if me.role == OrgRole.ADMIN and role not in ADMIN_MANAGES:
            raise errors.Forbidden("An admin of the organization cannot invite an owner.")
        if orgs.is_member_by_email(uow.session, org_id, email):
            raise errors.AlreadyMember
        now = self._clock()
        invitations.revoke_pending_for(uow.session, org_id, email, now)
        invitation = invitations.add(
            uow.session,
            Invitation(
                org_id=org_id,
                email=email,
                role=role,
                invited_by=principal.user.id,
                created_at=now,
                expires_at=now + INVITATION_TTL,
            ),
        )
        if not self._mail.queue_invitation(uow, invitation, client.requester):
            raise errors.RateLimited("Too many mails to this address; try again later.")
        audit.record(
            uow.session,
            AuthEventType.INVITATION_SENT,
            client,
            user_id=principal.user.id,
            email=email,
            reason=f"{org.id} {role}",
        )
        return invitation

    def pending_invitations(
        self, uow: UnitOfWork, principal: Principal, org_id: uuid.UUID
    ) -> list[Invitation]:
        self._member(uow, org_id, principal, OrgRole.OWNER, OrgRole.ADMIN)
        return invitations.pending(uow.session, org_id, self._clock())

    def revoke_invitation(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        invitation_id: uuid.UUID,
        client: ClientInfo,
    ) -> None:
        org, _ = self._member(uow, org_id, principal, OrgRole.OWNER, OrgRole.ADMIN)
        invitation = invitations.get(uow.session, invitation_id)
        if invitation is None or invitation.org_id != org_id or not self._pending(invitation):
            raise errors.NotFound("No pending invitation has this id.")
        invitations.revoke(uow.session, invitation, self._clock())
        audit.record(
            uow.session,
            AuthEventType.INVITATION_REVOKED,
            client,
            user_id=principal.user.id,
            email=invitation.email,
            reason=str(org.id),
        )

    def accept(
        self, uow: UnitOfWork, principal: Principal, token: str, client: ClientInfo
    ) -> tuple[Organization, str]:
        """Single use, and only by the invited address, verified (a stolen link is
        useless to another account, and an unverified address proves nothing)."""
        invitation = invitations.by_token_hash(uow.session, hash_token(token))
        if invitation is None or not self._pending(invitation):
            raise errors.LinkInvalid("The invitation is unknown, used, revoked or expired.")
        user = load_user(uow, principal)
        if user.email != invitation.email:
            raise errors.InvitationEmailMismatch
        if user.email_verified_at is None:
            raise errors.EmailNotVerified(
                "Confirm your address first: the invitation needs the invited address proven."
            )
        if not invitations.accept(uow.session, invitation.id, self._clock()):
            raise errors.LinkInvalid("The invitation is unknown, used, revoked or expired.")
        org = orgs.get(uow.session, invitation.org_id)
        if org is None:
            raise errors.LinkInvalid("The invitation is unknown, used, revoked or expired.")
        member = Membership(
            org_id=org.id, user_id=user.id, role=invitation.role, joined_at=self._clock()
        )
        try:
            orgs.add_member(uow.session, member)
        except orgs.AlreadyMember:
            raise errors.AlreadyMember("You are a member of this organization already.") from None
        audit.record(
            uow.session,
            AuthEventType.INVITATION_ACCEPTED,
            client,
            user_id=user.id,
            email=user.email,
            reason=str(org.id),
        )
        self._record(uow, AuthEventType.MEMBER_ADDED, principal, client, org, member)
        return org, member.role

    # -- rules ------------------------------------------------------------------------

    def _pending(self, invitation: Invitation) -> bool:
        return (
            invitation.accepted_at is None
            and invitation.revoked_at is None
            and invitation.expires_at > self._clock()
        )

    @staticmethod
    def _member(
        uow: UnitOfWork, org_id: uuid.UUID, principal: Principal, *roles: OrgRole
    ) -> tuple[Organization, Membership]:
        """The org and the caller's membership: 404 to a stranger (the org's existence
        is not told), 403 to a member without one of `roles` (any role if none)."""
        org = orgs.get(uow.session, org_id)
        me = orgs.membership(uow.session, org_id, principal.user.id) if org else None
        if org is None or me is None:
            raise errors.NotFound("No organization of yours has this id.")
        if roles and me.role not in roles:
            raise errors.Forbidden("Your role in the organization does not allow this.")
        return org, me

    @staticmethod
    def _target(uow: UnitOfWork, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
        target = orgs.membership(uow.session, org_id, user_id)
        if target is None:
            raise errors.NotFound("No member of the organization has this id.")
        return target

    @staticmethod
    def _record(
        uow: UnitOfWork,
        event_type: AuthEventType,
        principal: Principal,
        client: ClientInfo,
        org: Organization,
        member: Membership | None = None,
        role: str | None = None,
    ) -> None:
        email = None
        if member is not None:
            member_user = users.get_by_id(uow.session, member.user_id)
            email = member_user.email if member_user else None
        audit.record(
            uow.session,
            event_type,
            client,
            user_id=principal.user.id,
            email=email,
            reason=f"{org.id} {role}" if role else str(org.id),
        )


@contextmanager
def owner_kept(uow: UnitOfWork, member: Membership) -> Iterator[None]:
    """Around a change that may take an owner away: the org's owners locked first,
    and 409 last_owner if none is left after it (in the same transaction)."""
    if member.role != OrgRole.OWNER:
        yield
        return
    orgs.lock_owners(uow.session, member.org_id)
    yield
    if orgs.count_owners(uow.session, member.org_id) == 0:
        raise errors.LastOwner


def leave_every_org(session: Session, user: User) -> None:
    """Before an account is deleted: out of every org. An org it alone belongs to goes
    with it; the last owner of an org with other members is refused (409 last_owner)."""
    for member in orgs.memberships_of(session, user.id):
        if member.role == OrgRole.OWNER:
            orgs.lock_owners(session, member.org_id)
            if orgs.count_owners(session, member.org_id) == 1:
                if orgs.count_members(session, member.org_id) > 1:
                    raise errors.LastOwner(
                        "The account is the last owner of an organization with other members: "
                        "make another member an owner first."
                    )
                org = orgs.get(session, member.org_id)
                if org is not None:
                    orgs.delete_org(session, org)
                continue
        orgs.remove_member(session, member)
