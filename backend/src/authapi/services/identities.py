"""The provider accounts linked to an account: attaching one (from a provider's
callback), listing them, and unlinking one without locking the owner out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from authapi import errors
from authapi.models import AuthEventType, Identity, User
from authapi.repositories import identities as stored
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal, load_user
from authapi.unit_of_work import UnitOfWork


def attach(
    uow: UnitOfWork,
    user: User,
    provider: str,
    subject: str,
    email: str | None,
    client: ClientInfo,
) -> Identity | None:
    """The new identity, audited; None when (provider, subject) is already stored
    (another account's, or a concurrent callback's)."""
    try:
        identity = stored.add(
            uow.session, Identity(user_id=user.id, provider=provider, subject=subject, email=email)
        )
    except stored.IdentityAlreadyStored:
        return None
    audit.record(
        uow.session,
        AuthEventType.IDENTITY_LINKED,
        client,
        user_id=user.id,
        email=user.email,
        reason=provider,
    )
    return identity


class IdentityService:
    def list(self, uow: UnitOfWork, principal: Principal) -> Sequence[Identity]:
        return stored.list_for_user(uow.session, principal.user.id)

    def unlink(
        self, uow: UnitOfWork, principal: Principal, identity_id: uuid.UUID, client: ClientInfo
    ) -> None:
        """409 last_login_method when it is the only way in: no password, no passkey
        and no other identity."""
        user = load_user(uow, principal)
        mine = {i.id: i for i in stored.list_for_user(uow.session, user.id)}
        identity = mine.get(identity_id)
        if identity is None:
            raise errors.NotFound
        if user.password_hash is None and user.passkey_count == 0 and len(mine) == 1:
            raise errors.LastLoginMethod
        stored.remove(uow.session, user.id, identity_id)
        audit.record(
            uow.session,
            AuthEventType.IDENTITY_UNLINKED,
            client,
            user_id=user.id,
            email=user.email,
            reason=identity.provider,
        )
