from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from authapi import errors
from authapi.deps import container_of
from authapi.routers.responses import problems

router = APIRouter(tags=["keys"])

# Verifiers cache the set; a rotation reaches them within this, or sooner when they
# refetch on an unknown `kid` (PyJWT's PyJWKClient does, at most every 30 s by default).
JWKS_MAX_AGE_SECONDS = 300


@router.get("/.well-known/jwks.json", responses=problems(404))
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (current and retired), as a JWK Set,
    for services that check tokens offline. 404 with HS algorithms: nothing is public."""
    key_set = container_of(request).tokens.keys.jwks()
    if not key_set["keys"]:
        raise errors.NotFound("JWT_ALGORITHM is an HS algorithm: there are no public keys.")
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return key_set
