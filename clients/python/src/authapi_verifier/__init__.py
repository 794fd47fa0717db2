"""Accept authapi's access tokens in another FastAPI service.

Verifier(jwks_url="http://127.0.0.1:8000/.well-known/jwks.json").install(app)

@app.get("/hello")
async def hello(claims: CurrentClaims) -> dict[str, str]: ...
"""

from authapi_verifier.claims import Claims
from authapi_verifier.dependencies import CurrentClaims, current_claims, require_role
from authapi_verifier.errors import (
    Forbidden,
    IntrospectionUnavailable,
    JwksUnavailable,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    TokenRevoked,
    VerificationError,
)
from authapi_verifier.verifier import Verifier, hs_kid

__all__ = [
    "Claims",
    "CurrentClaims",
    "Forbidden",
    "IntrospectionUnavailable",
    "JwksUnavailable",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "TokenRevoked",
    "VerificationError",
    "Verifier",
    "current_claims",
    "hs_kid",
    "require_role",
]
