"""The check every protected request pays: a signed access token and a live session.

It runs on the read pool (db.ReadPool) with a connection of its own, before the
request's unit of work exists; a rejection's audit row is written apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Dialect

from authapi import errors
from authapi.models import AuthEventType
from authapi.models.base import utcnow
from authapi.repositories.sessions import SessionOwnerQuery
from authapi.security import (
    AccessClaims,
    TokenConfig,
    TokenError,
    TokenExpiredError,
    decode_access_token,
)
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal
from authapi.unit_of_work import SideTransactions


@dataclass(frozen=True, slots=True)
class Inspected:
    claims: AccessClaims
    principal: Principal


class _Refused(Exception):
    """Why a token is not trusted: the error its caller gets, and the audit reason."""

    def __init__(
        self, error: type[errors.AppError], user_id: uuid.UUID | None, reason: str
    ) -> None:
        self.error, self.user_id, self.reason = error, user_id, reason


class TokenCheck:
    def __init__(
        self,
        *,
        tokens: TokenConfig,
        dialect: Dialect,
        side: SideTransactions,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._tokens = tokens
        self._owner_query = SessionOwnerQuery(dialect)
        self._side = side
        self._clock = clock

    def authenticate(
        self, connection: Connection, token: str | None, client: Callable[[], ClientInfo]
    ) -> Principal:
        """Trust a token only if it verifies and its session row is live. `client`
        describes the caller for the audit row of a rejection, and only then.

        Revocation is keyed on the session id inside the signed token, never on the
        token string, so a re-encoded token (e.g. with "=" appended) is revoked too.
        """
        if not token:
            raise errors.TokenMissing
        try:
            return self._check(connection, token).principal
        except _Refused as refused:
            self._reject(client(), refused.user_id, refused.reason)
            raise refused.error from None

    def inspect(self, connection: Connection, token: str) -> Inspected | None:
        """The same check for a resource server's introspection (RFC 7662): the token's
        claims and its live session, or None for any token that would be refused. No
        audit row: the resource server asks on its callers' behalf, and refuses them."""
        try:
            return self._check(connection, token)
        except _Refused:
            return None

    def _check(self, connection: Connection, token: str) -> Inspected:
        try:
            claims = decode_access_token(self._tokens, token)
        except TokenExpiredError:
            raise _Refused(errors.TokenExpired, None, "expired") from None
        except TokenError:
            raise _Refused(errors.TokenInvalid, None, "invalid") from None

        found = self._owner_query.run(connection, claims.session_id)
        if found is None or found.user.id != claims.user_id:
            user_id = claims.user_id if found else None
            raise _Refused(errors.TokenInvalid, user_id, "unknown_session")
        auth_session, user = found, found.user
        if auth_session.revoked_at is not None:
            raise _Refused(errors.TokenRevoked, user.id, "revoked")
        now = self._clock()
        if user.is_disabled(now):
            raise _Refused(errors.TokenRevoked, user.id, "disabled")
        if auth_session.expires_at <= now:
            raise _Refused(errors.TokenExpired, user.id, "expired")
        principal = Principal(
            user=user,
            session_id=auth_session.session_id,
            impersonator_id=auth_session.impersonator_id,
        )
        return Inspected(claims=claims, principal=principal)

    def _reject(self, client: ClientInfo, user_id: uuid.UUID | None, reason: str) -> None:
        self._side.try_run(
            audit.failure(AuthEventType.TOKEN_REJECTED, client, user_id=user_id, reason=reason)
        )
