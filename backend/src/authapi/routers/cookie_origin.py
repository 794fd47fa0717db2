"""Cookie mode's guard against cross-site requests, shared by every endpoint that sets
or reads the refresh cookie: signup, login, token, /auth/mfa/verify and refresh."""

from __future__ import annotations

from fastapi import Depends, Request

from authapi import errors


async def require_listed_origin(request: Request) -> None:
    """With REFRESH_TOKEN_COOKIE=true, only a page of an origin in CORS_ORIGINS may
    call the endpoint; anything else gets 403 before any work (no password hashed,
    no session, no cookie).

    SameSite=Strict keeps the cookie off requests that other sites start, but not a
    new cookie off their answers: a form another site posts to /auth/token would log
    the browser in to the attacker's account (login CSRF). Browsers send Origin with
    every cross-origin request and every fetch POST; a request without one is no page
    of a listed origin.
    """
    settings = request.app.state.settings
    if settings.refresh_token_cookie and request.headers.get("origin") not in settings.cors_origins:
        raise errors.OriginNotAllowed


# For `dependencies=[...]` of the routes: it runs before the endpoint's own dependencies.
ListedOrigin = Depends(require_listed_origin)
