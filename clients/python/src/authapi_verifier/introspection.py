"""RFC 7662 token introspection: asking authapi whether a verified token's session is
still live, for the services that must see a logout or a revoked session at once.

It fails closed: when authapi cannot answer, the request is refused (503), never let
through on the signature alone. Wrong client credentials are this service's
misconfiguration, not the caller's fault, so they are a 503 too, and logged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from urllib.parse import quote_plus

import httpx

from authapi_verifier.claims import Claims, actor_of
from authapi_verifier.errors import IntrospectionUnavailable, TokenRevoked

MAX_ANSWER_BYTES = 64 * 1024

logger = logging.getLogger(__name__)


class Introspector:
    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        http: Callable[[], httpx.AsyncClient],
    ) -> None:
        self.url = url
        # RFC 6749 2.3.1: both parts are form-encoded before the Basic encoding.
        self._auth = httpx.BasicAuth(quote_plus(client_id), quote_plus(client_secret))
        self._http = http

    def __repr__(self) -> str:
        return f"Introspector(url={self.url!r})"

    async def check(self, token: str, claims: Claims) -> Claims:
        """`claims` with the role and actor authapi holds now; TokenRevoked if the
        session has ended (logout, revocation, a disabled account...)."""
        try:
            response = await self._http().post(
                self.url,
                data={"token": token},
                auth=self._auth,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            logger.warning(
                "cannot reach authapi's introspection at %s: %s", self.url, type(exc).__name__
            )
            raise IntrospectionUnavailable from None
        if response.status_code == 401:
            logger.error(
                "authapi refused this service's introspection client credentials (401): "
                "check AUTHAPI_INTROSPECTION_CLIENT_ID/SECRET against INTROSPECTION_CLIENTS"
            )
            raise IntrospectionUnavailable
        body = _json_object(response)
        if body is None or not isinstance(body.get("active"), bool):
            logger.warning(
                "authapi's introspection at %s answered HTTP %s without an `active` member",
                self.url,
                response.status_code,
            )
            raise IntrospectionUnavailable
        if body["active"] is False:
            raise TokenRevoked
        if body.get("sub") != claims.sub or body.get("sid") != claims.sid:
            # Not this token's answer (a proxy mixing responses?): trust neither.
            logger.error("authapi's introspection answered for another token; refusing")
            raise IntrospectionUnavailable
        role = body.get("role")
        return dataclasses.replace(
            claims,
            role=role if isinstance(role, str) else None,
            impersonator=actor_of(body.get("act")),
            introspected=True,
        )


def _json_object(response: httpx.Response) -> dict[str, object] | None:
    if response.status_code != 200 or len(response.content) > MAX_ANSWER_BYTES:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
