"""Organizations and their memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from authapi.models import Membership, Organization, OrgRole, User


class SlugAlreadyStored(Exception):
    """The unique index on `organizations.slug` refused the row."""


class AlreadyMember(Exception):
    """The membership's primary key (org, user) refused the row."""


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    joined_at: datetime


def save(session: Session, org: Organization) -> Organization:
    """Insert or update now, so that a taken slug surfaces here (inside a savepoint,
    which keeps the request's transaction usable)."""
    try:
        with session.begin_nested():
            session.add(org)
    except IntegrityError as exc:
        raise SlugAlreadyStored from exc
    return org


def get(session: Session, org_id: uuid.UUID) -> Organization | None:
    return session.get(Organization, org_id)


def delete_org(session: Session, org: Organization) -> None:
    """Members and invitations go with it (ON DELETE CASCADE, and here for SQLite
    connections that do not enforce foreign keys)."""
    session.execute(delete(Membership).where(col(Membership.org_id) == org.id))
    session.delete(org)
    session.flush()


def membership(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    return session.get(Membership, (org_id, user_id))


def add_member(session: Session, member: Membership) -> None:
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError as exc:
        raise AlreadyMember from exc


def set_role(session: Session, member: Membership, role: str) -> None:
    member.role = role
    session.add(member)
    session.flush()


def remove_member(session: Session, member: Membership) -> None:
    session.delete(member)
    session.flush()


def list_for_user(session: Session, user_id: uuid.UUID) -> list[tuple[Organization, str]]:
    """The orgs the user belongs to, with their role in each, by name."""
    rows = session.execute(
        sa_select(Organization, col(Membership.role))
        .join(Membership, col(Membership.org_id) == col(Organization.id))
        .where(col(Membership.user_id) == user_id)
        .order_by(col(Organization.name), col(Organization.id))
    ).all()
    return [(org, role) for org, role in rows]


def _member_rows(org_id: uuid.UUID) -> Any:
    return (
        sa_select(
            col(Membership.user_id),
            col(User.email),
            col(User.name),
            col(Membership.role),
            col(Membership.joined_at),
        )
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.org_id) == org_id)
    )


def members(session: Session, org_id: uuid.UUID) -> list[MemberRow]:
    query = _member_rows(org_id).order_by(col(Membership.joined_at), col(Membership.user_id))
    return [MemberRow(*row) for row in session.execute(query).all()]


def member_row(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> MemberRow | None:
    row = session.execute(_member_rows(org_id).where(col(Membership.user_id) == user_id)).first()
    return MemberRow(*row) if row is not None else None


def is_member_by_email(session: Session, org_id: uuid.UUID, email: str) -> bool:
    found = session.execute(
        sa_select(col(Membership.user_id))
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.org_id) == org_id, col(User.email) == email)
    ).first()
    return found is not None


def lock_owners(session: Session, org_id: uuid.UUID) -> None:
    """Lock the org's owners' rows (PostgreSQL; SQLite's write lock serialises the
    writers) before one of them stops being one: of two owners demoting each other
    at once, the second counts after the first has committed."""
    session.execute(
        sa_select(col(Membership.user_id))
        .where(col(Membership.org_id) == org_id, col(Membership.role) == OrgRole.OWNER)
        .order_by(col(Membership.user_id))
        .with_for_update()
    ).all()


def count_owners(session: Session, org_id: uuid.UUID) -> int:
    return int(
        session.execute(
            sa_select(func.count())
            .select_from(Membership)
            .where(col(Membership.org_id) == org_id, col(Membership.role) == OrgRole.OWNER)
        ).scalar_one()
    )


def count_members(session: Session, org_id: uuid.UUID) -> int:
    return int(
        session.execute(
            sa_select(func.count()).select_from(Membership).where(col(Membership.org_id) == org_id)
        ).scalar_one()
    )


def memberships_of(session: Session, user_id: uuid.UUID) -> list[Membership]:
    return list(session.exec(select(Membership).where(col(Membership.user_id) == user_id)).all())
