"""The check every protected request pays: a signed access token and a live session.

It runs on the read pool (db.ReadPool) with a connection of its own, before the
request's unit of work exists; a rejection's audit row is written apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Dialect

from authapi import errors
from authapi.models import AuthEventType
from authapi.models.base import utcnow
from authapi.repositories.sessions import SessionOwnerQuery
from authapi.security import TokenConfig, TokenError, TokenExpiredError, decode_access_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import Principal
from authapi.unit_of_work import SideTransactions


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
            claims = decode_access_token(self._tokens, token)
        except TokenExpiredError:
            self._reject(client(), None, "expired")
            raise errors.TokenExpired from None
        except TokenError:
            self._reject(client(), None, "invalid")
            raise errors.TokenInvalid from None

        found = self._owner_query.run(connection, claims.session_id)
        if found is None or found.user.id != claims.user_id:
            self._reject(client(), claims.user_id if found else None, "unknown_session")
            raise errors.TokenInvalid
        auth_session, user = found, found.user
        if auth_session.revoked_at is not None:
            self._reject(client(), user.id, "revoked")
            raise errors.TokenRevoked
        now = self._clock()
        if user.is_disabled(now):
            self._reject(client(), user.id, "disabled")
            raise errors.TokenRevoked
        if auth_session.expires_at <= now:
            self._reject(client(), user.id, "expired")
            raise errors.TokenExpired
        return Principal(
            user=user,
            session_id=auth_session.session_id,
            impersonator_id=auth_session.impersonator_id,
        )

    def _reject(self, client: ClientInfo, user_id: uuid.UUID | None, reason: str) -> None:
        self._side.try_run(
            audit.failure(AuthEventType.TOKEN_REJECTED, client, user_id=user_id, reason=reason)
        )
