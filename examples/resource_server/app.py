"""A second service that accepts authapi's access tokens, through the
`authapi-verifier` package (clients/python): offline against authapi's public keys
(the JWKS), or also asking authapi per request when introspection is configured.

    AUTHAPI_JWKS_URL=http://127.0.0.1:8000/.well-known/jwks.json uvicorn app:app --port 8001
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from authapi_verifier import CurrentClaims, Verifier, require_role

app = FastAPI(title="authapi example resource server")
# Every AUTHAPI_* setting (the JWKS URL, issuer, audience, introspection...) is read
# here; the verifier's HTTP client is closed when the app shuts down.
Verifier.from_env().install(app)


@app.get("/hello")
async def hello(claims: CurrentClaims) -> dict[str, str]:
    return {"user_id": claims.sub, "session_id": claims.sid}


@app.get("/admin", dependencies=[Depends(require_role("admin"))])
async def admin() -> dict[str, bool]:
    return {"admin": True}
