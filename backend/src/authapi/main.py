"""The application factory: settings in, the container's parts mounted as a FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from authapi import __version__
from authapi.body_limit import BodyLimitMiddleware
from authapi.config import Settings, get_settings
from authapi.container import Container
from authapi.handlers import install_error_handlers
from authapi.metrics import MetricsMiddleware
from authapi.middleware import RequestContextMiddleware
from authapi.rate_limit import register_limits
from authapi.routers import (
    account,
    admin,
    audit,
    auth,
    health,
    introspection,
    jwks,
    mfa,
    oauth,
    orgs,
    passkeys,
)
from authapi.routers.docs import install_docs
from authapi.routers.responses import install_problem_openapi

DESCRIPTION = """\
Sign up, log in and call protected endpoints with a JWT bearer token.

Use **Authorize** (OAuth2 password form: your email as `username`) or send
`Authorization: Bearer <access_token>` from `/auth/signup` or `/auth/login`.
Every error is `application/problem+json` with a stable `code`.
"""

# Sync endpoints run on anyio's thread pool; a login parks its thread while the
# password hasher works. 40 threads (the default) would let 40 concurrent logins
# starve /health and /auth/me; parked threads cost little, so allow more.
REQUEST_THREADS = 128

ROUTERS = (
    auth.credentials_router,
    auth.router,
    account.link_router,
    account.mailing_router,
    account.router,
    mfa.verify_router,
    mfa.router,
    audit.router,
    health.router,
    jwks.router,
    introspection.router,
    oauth.router,
    oauth.limited_router,
    oauth.exchange_router,
    passkeys.router,
    passkeys.login_router,
    admin.router,
    orgs.router,
    orgs.mailing_router,
)
# Limits per client IP; endpoints in one group share one count. login and token
# check the same credentials: one count, so two endpoints do not double an
# attacker's guesses. The second step has its own: a login with the factor on is two.
LIMITED: dict[str, list[Callable[..., Any]]] = {
    "signup": [auth.signup],
    "login": [auth.login, auth.token],
    "password_reset": [account.forgot_password, account.reset_password],
    "email_verify": [account.verify_email],
    "email_change": [account.change_email],
    "mfa_verify": [mfa.verify, mfa.passkey_options],
    "refresh": [auth.refresh],
    "oauth": [oauth.authorize, oauth.callback, oauth.exchange],
    "passkey": [passkeys.login_options, passkeys.login],
    "org_invite": [orgs.invite],
    "email_login": [account.request_email_login, auth.verify_email_login],
}
# Exposed to pages of CORS_ORIGINS: the request id and the limit headers.
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    container = Container(settings or get_settings()).assemble()
    settings = container.settings
    register_limits(
        container.limiter,
        settings,
        shared=LIMITED,
        own={
            "refresh": settings.rate_limit_refresh,
            "oauth": settings.rate_limit_oauth,
            "passkey": settings.rate_limit_passkey,
        },
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads = anyio.to_thread.current_default_thread_limiter()
        threads.total_tokens = max(threads.total_tokens, REQUEST_THREADS)
        container.start()
        yield
        await anyio.to_thread.run_sync(container.close)

    app = FastAPI(
        title="authapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        # `/auth/me/` is a 404 like any unknown path: Starlette's slash redirect would
        # build its Location from the client's Host header (an open redirect).
        redirect_slashes=False,
    )
    app.state.container = container
    # Where slowapi and the per-IP key function look for them.
    app.state.limiter, app.state.settings = container.limiter, settings

    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_problem_openapi(app)
    install_docs(app)

    # Inside the request context: a 413 carries X-Request-ID, CORS headers and metrics.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware)
    # Added last, so outermost: error responses carry CORS headers too. Credentials
    # (the refresh cookie) only in cookie mode, and only for the origins listed:
    # never with a wildcard (config refuses '*').
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=container.transport.cookie_mode,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    # Outermost of all, so that every answer is counted, CORS preflights included.
    app.add_middleware(
        MetricsMiddleware,
        engine=container.engine,
        allowed=settings.metrics_allowed_ips,
        trusted_proxies=settings.trusted_proxies,
    )
    return app
