"""POST /auth/introspect (RFC 7662): whether an access token is live, for resource
servers listed in INTROSPECTION_CLIENTS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import HTTPBasic

from authapi import errors
from authapi.deps import container_of
from authapi.routers.responses import problems
from authapi.routers.token_answers import NO_STORE
from authapi.schemas.introspection import IntrospectionOut

router = APIRouter(prefix="/auth", tags=["resource servers"])

# An access token is a few hundred characters; anything far longer is not one.
TOKEN_MAX = 8192


class IntrospectionClient(HTTPBasic):
    """The HTTP Basic scheme in the schema, and our own reading of the header: every
    malformed one (not base64, not UTF-8, no colon) is the same 401 invalid_client."""

    def __init__(self) -> None:
        super().__init__(scheme_name="IntrospectionClient", realm="authapi", auto_error=False)

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise errors.InvalidClient
        try:
            decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise errors.InvalidClient from None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise errors.InvalidClient
        # RFC 6749 2.3.1: both parts are form-encoded before the Basic encoding.
        service = container_of(request).introspection
        return service.authenticate(unquote_plus(client_id), unquote_plus(secret))


IntrospectingClient = Annotated[str, Depends(IntrospectionClient())]


@router.post(
    "/introspect",
    response_model=IntrospectionOut,
    response_model_exclude_none=True,
    responses=problems(401, 422),
)
async def introspect(
    request: Request,
    response: Response,
    _client: IntrospectingClient,
    token: Annotated[str, Form(min_length=1, max_length=TOKEN_MAX)],
    token_type_hint: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, Any]:
    """Whether `token` is a live access token (its session not logged out, revoked or
    expired, its user not disabled), with its claims; `{"active": false}` for any
    other token. Clients authenticate with HTTP Basic; the hint is accepted and
    unused (only access tokens are introspected)."""
    container = container_of(request)
    service = container.introspection
    response.headers.update(NO_STORE)  # the claims, like a token answer, are not cached
    return await container.reads.run(lambda connection: service.introspect(connection, token))
