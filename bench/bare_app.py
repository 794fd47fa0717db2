"""The /auth/me reference: a bare FastAPI endpoint that only decodes the same JWT.

Served exactly as `python -m authapi serve` serves authapi: through
`authapi.serving.serve`, so with its uvicorn options (NoDelayH11Protocol...) and,
with WORKERS > 1, one SO_REUSEPORT listener per worker process. What is left
between the two is authapi's own work per request: middleware, dependencies, the
session lookup.

    WORKERS=2 PORT=8001 JWT_SECRET=... python bench/bare_app.py
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, HTTPException

from authapi import serving
from authapi.config import get_settings
from authapi.container import Container
from authapi.log import configure_logging
from authapi.security import TokenError, decode_access_token

# `serving` runs the app its options name. This runs on import, so in each spawned
# worker too (spawn imports the main module first), and they serve this app.
serving.UVICORN_OPTIONS["app"] = "bare_app:create_app"


def create_app() -> FastAPI:
    """In each worker, as authapi.__main__.create_served_app: logging, then the app."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    tokens = Container(settings).tokens  # the app's own container makes them
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/me")
    def me(authorization: Annotated[str | None, Header()] = None) -> dict[str, str]:
        scheme, _, token = (authorization or "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise TokenError
            claims = decode_access_token(tokens, token)
        except TokenError:
            raise HTTPException(status_code=401, detail="invalid token") from None
        return {"id": str(claims.user_id)}

    return app


if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    serving.serve(settings.host, settings.port, settings.workers)
