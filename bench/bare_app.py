"""The /auth/me reference: a bare FastAPI endpoint that only decodes the JWT.

`bench/run.py` serves it beside authapi, with the same settings (so the same
`TokenConfig`), the same worker count and the same uvicorn options, and reports
authapi's GET /auth/me as a ratio of this. What is left between the two is
authapi's own work per request: middleware, dependencies, the session lookup.

    WORKERS=2 PORT=8001 JWT_SECRET=... python bench/bare_app.py

`BARE_PLAIN_HTTP=1` serves with uvicorn's own H11Protocol instead of authapi's
`NoDelayH11Protocol`: the control that shows the TCP_NODELAY trap with WORKERS > 1.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException

from authapi.config import get_settings
from authapi.security import TokenConfig, TokenError, decode_access_token


def create_app() -> FastAPI:
    settings = get_settings()
    tokens = TokenConfig(  # as authapi.main.create_app builds it
        secret=settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
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


def serve() -> None:
    import uvicorn

    from authapi.log import configure_logging
    from authapi.serving import NoDelayH11Protocol

    settings = get_settings()
    http: Any = NoDelayH11Protocol
    if os.environ.get("BARE_PLAIN_HTTP") == "1":
        http = "h11"
    configure_logging(settings.log_level)
    uvicorn.run(  # the options authapi.__main__.serve uses
        "bare_app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=http,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        access_log=True,
    )


if __name__ == "__main__":
    serve()
