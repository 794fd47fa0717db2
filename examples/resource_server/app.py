"""A second service that accepts authapi's access tokens without calling authapi per
request: it verifies them offline against authapi's public keys (the JWKS).

    AUTHAPI_JWKS_URL=http://127.0.0.1:8000/.well-known/jwks.json uvicorn app:app --port 8001
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

JWKS_URL = os.environ["AUTHAPI_JWKS_URL"]
ISSUER = os.environ.get("AUTHAPI_ISSUER", "authapi")
AUDIENCE = os.environ.get("AUTHAPI_AUDIENCE", "authapi")
ALGORITHMS = ["RS256", "ES256"]  # public-key algorithms only: no shared secret here

# The key set is cached for 5 minutes (authapi's Cache-Control max-age). A token whose
# `kid` is not in the cache makes the client refetch the set at once (a rotation), but
# at most once per cooldown, so that made-up kids cannot flood authapi with fetches.
jwks = jwt.PyJWKClient(
    JWKS_URL,
    lifespan=300,
    cooldown_duration=float(os.environ.get("AUTHAPI_JWKS_REFETCH_COOLDOWN_SECONDS", "5")),
    timeout=5,
)
bearer = HTTPBearer(auto_error=False)
app = FastAPI(title="authapi example resource server")


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status, self.code, self.detail = status, code, detail


@app.exception_handler(Problem)
async def problem(request: Request, exc: Problem) -> JSONResponse:
    """An RFC 9457 problem, in the shape authapi answers with."""
    headers: dict[str, str] = {}
    if exc.status == 401:  # RFC 6750: name the scheme, and the error when a token was sent
        invalid = exc.code != "token_missing"
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return JSONResponse(
        {
            "title": HTTPStatus(exc.status).phrase,
            "status": exc.status,
            "code": exc.code,
            "detail": exc.detail,
        },
        status_code=exc.status,
        media_type="application/problem+json",
        headers=headers,
    )


def claims(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, Any]:
    """The verified claims of the bearer token (a sync dependency: the JWKS fetch blocks)."""
    if credentials is None:
        raise Problem(401, "token_missing", "Send an authapi access token as a Bearer token.")
    token = credentials.credentials
    try:
        key = jwks.get_signing_key_from_jwt(token)  # by `kid`; the key fixes the algorithm
        return jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
        )
    except jwt.ExpiredSignatureError:
        raise Problem(401, "token_expired", "The access token has expired.") from None
    except jwt.PyJWKClientConnectionError:  # authapi unreachable: not the client's fault
        raise Problem(503, "jwks_unavailable", "The signing keys cannot be fetched.") from None
    except (jwt.PyJWTError, ValueError):
        raise Problem(401, "token_invalid", "The access token is not valid.") from None


@app.get("/hello")
def hello(token: Annotated[dict[str, Any], Depends(claims)]) -> dict[str, str]:
    return {"user_id": token["sub"], "session_id": token["sid"]}
