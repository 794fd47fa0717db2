"""The FastAPI side: the bearer token in, the verified claims out.

`CurrentClaims` in an endpoint's signature reads as what it is; `require_role` guards
a route. FastAPI caches `current_claims` per request, so a route that uses both
verifies the token once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authapi_verifier.claims import Claims
from authapi_verifier.errors import Forbidden, TokenMissing
from authapi_verifier.verifier import STATE_ATTRIBUTE, Verifier

# auto_error=False: a missing token is our `token_missing` problem, not FastAPI's 403.
# The scheme also puts "Authorization: Bearer" into the app's OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="An authapi access token.")


def verifier_of(request: Request) -> Verifier:
    verifier = getattr(request.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(verifier, Verifier):
        raise RuntimeError("no authapi verifier on this app: call Verifier(...).install(app)")
    return verifier


async def current_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    """The caller's verified claims; a 401 (or 503) problem otherwise."""
    if credentials is None or not credentials.credentials:
        raise TokenMissing
    return await verifier_of(request).verify(credentials.credentials)


CurrentClaims = Annotated[Claims, Depends(current_claims)]


def require_role(*roles: str) -> Callable[[Claims], Awaitable[Claims]]:
    """A dependency that lets through callers with one of `roles` (403 `forbidden`
    otherwise), and gives their claims to an endpoint that asks for them."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    allowed = frozenset(roles)

    async def role_required(claims: CurrentClaims) -> Claims:
        if claims.role not in allowed:
            raise Forbidden
        return claims

    return role_required
