"""Token introspection (RFC 7662) for resource servers that must see a logout before
the token's `exp`: the token check's answer, given to a listed client only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Connection

from authapi import errors
from authapi.services.token_check import TokenCheck


def _digest(text: str) -> bytes:
    # Fixed-length digests, so the comparison takes the same time whatever was sent.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class _Client:
    client_id: str
    id_digest: bytes
    secret_digest: bytes


class IntrospectionService:
    def __init__(
        self, *, clients: list[SecretStr], check: TokenCheck, issuer: str, audience: str
    ) -> None:
        self._clients = [self._client(entry.get_secret_value()) for entry in clients]
        self._check = check
        self._issuer = issuer
        self._audience = audience
        # Compared against when no client is configured, so that even then a wrong
        # secret costs what it costs with clients.
        self._nobody = _Client("", _digest(secrets.token_hex(16)), _digest(secrets.token_hex(32)))

    @staticmethod
    def _client(entry: str) -> _Client:
        client_id, _, secret = entry.partition(":")  # config checked the form
        return _Client(client_id, _digest(client_id), _digest(secret))

    def authenticate(self, client_id: str, secret: str) -> str:
        """The listed client these credentials name, or 401 invalid_client. Every
        client is compared, id and secret alike, in constant time: neither which ids
        exist nor how much of a secret is right shows in the time taken."""
        id_digest, secret_digest = _digest(client_id), _digest(secret)
        found: str | None = None
        for client in self._clients or [self._nobody]:
            same_id = hmac.compare_digest(client.id_digest, id_digest)
            same_secret = hmac.compare_digest(client.secret_digest, secret_digest)
            if same_id & same_secret and client is not self._nobody:
                found = client.client_id
        if found is None:
            raise errors.InvalidClient
        return found

    def introspect(self, connection: Connection, token: str) -> dict[str, Any]:
        """RFC 7662 section 2.2: `active` and the token's claims for a live token;
        `{active: false}` alone for any other (revoked, expired, unknown, malformed),
        so that nothing tells a revoked token from a made-up one. The role is the
        database's now, not the one the token was signed with."""
        found = self._check.inspect(connection, token)
        if found is None:
            return {"active": False}
        claims, principal = found.claims, found.principal
        answer: dict[str, Any] = {
            "active": True,
            "sub": str(principal.user.id),
            "sid": str(principal.session_id),
            "exp": int(claims.expires_at.timestamp()),
            "iat": int(claims.issued_at.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
            "role": principal.user.role,
            "token_type": "access_token",
        }
        if principal.impersonator_id is not None:
            answer["act"] = {"sub": str(principal.impersonator_id)}
        return answer
