"""Social sign-in over HTTP: the provider list, the trip to a provider and back, the
exchange of authapi's one-time code for the login answer, and the caller's linked
identities."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from authapi.body_limit import LargeBody
from authapi.deps import (
    AccountHolder,
    ClientInfoDep,
    CurrentPrincipal,
    IdentitiesDep,
    ListedOrigin,
    LoginDep,
    OAuthDep,
    TransportDep,
    UnitOfWorkDep,
)
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.routers.token_answers import NO_STORE, login_answer
from authapi.schemas.auth import AuthResponse
from authapi.schemas.mfa import MfaChallengeResponse
from authapi.schemas.oauth import (
    REDIRECT_MAX_LENGTH,
    ExchangeRequest,
    IdentityOut,
    LinkRequest,
    LinkStarted,
    ProviderOut,
)
from authapi.services.oauth import FLOW_TTL, Callback, Started

# Binds a flow to the browser that started it: sent only back to the callback, never
# to scripts, and with a top-level navigation from the provider (Lax, not Strict).
BROWSER_COOKIE = "authapi_oauth"
COOKIE_PATH = "/auth/oauth"

router = APIRouter(prefix="/auth", tags=["social sign-in"])
# The trip and the exchange count against a per-IP limit (main.py registers it).
limited_router = APIRouter(prefix="/auth", tags=["social sign-in"], route_class=RateLimitedRoute)
# The exchange sets the refresh cookie in cookie mode: the transport's Origin check.
exchange_router = APIRouter(
    prefix="/auth",
    tags=["social sign-in"],
    route_class=RateLimitedRoute,
    dependencies=[ListedOrigin, LargeBody],
)

QueryText = Annotated[str | None, Query(max_length=REDIRECT_MAX_LENGTH)]


@router.get("/oauth/providers", responses=problems())
def providers(oauth: OAuthDep) -> list[ProviderOut]:
    """The configured providers, for "Sign in with ..." buttons."""
    return [ProviderOut(id=pid, name=name) for pid, name in oauth.listed()]


@limited_router.get(
    "/oauth/{provider_id}/authorize",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=problems(400, 404, 422, 429),
)
def authorize(
    request: Request,
    provider_id: str,
    redirect_to: Annotated[str, Query(max_length=REDIRECT_MAX_LENGTH)],
    uow: UnitOfWorkDep,
    oauth: OAuthDep,
    client: ClientInfoDep,
) -> RedirectResponse:
    """Send the browser to the provider. `redirect_to` is where it comes back to
    (with `?code=` to exchange, or `?error=`): it must start with one of
    OAUTH_REDIRECT_URLS."""
    started = oauth.start(
        uow, provider_id, redirect_to, request.cookies.get(BROWSER_COOKIE), client
    )
    return _to_provider(started, oauth.public_url.startswith("https://"))


@limited_router.get(
    "/oauth/{provider_id}/callback",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=problems(400, 404, 422, 429),
)
def callback(
    request: Request,
    provider_id: str,
    uow: UnitOfWorkDep,
    oauth: OAuthDep,
    client: ClientInfoDep,
    code: QueryText = None,
    state: QueryText = None,
    error: QueryText = None,
) -> RedirectResponse:
    """Where the provider sends the browser back. Ends in a redirect to the flow's
    `redirect_to` with authapi's one-time `code`, or with `error` (`oauth_denied`,
    `oauth_state_invalid`, `oauth_failed`, `email_not_verified`, `email_missing`,
    `account_disabled`, `identity_taken`); 400 when the state names no flow."""
    back = Callback(code, state, error, request.cookies.get(BROWSER_COOKIE))
    location = oauth.finish(uow, provider_id, back, client)
    return RedirectResponse(location, status_code=status.HTTP_302_FOUND, headers=NO_STORE)


@exchange_router.post("/oauth/exchange", responses=problems(400, 403, 422, 429))
def exchange(
    request: Request,
    body: ExchangeRequest,
    response: Response,
    uow: UnitOfWorkDep,
    oauth: OAuthDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse | MfaChallengeResponse:
    """The one-time code from the return page's URL, for the login answer: tokens
    (in cookie mode the refresh token in the cookie), or the `mfa_required` challenge
    when the account has a second factor."""
    outcome = logins.social(uow, oauth.exchange(uow, body.code), client)
    return login_answer(outcome, response, transport)


@router.post("/oauth/{provider_id}/link", responses=problems(400, 401, 403, 404, 422))
def link(
    request: Request,
    provider_id: str,
    body: LinkRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    oauth: OAuthDep,
    client: ClientInfoDep,
) -> Response:
    """Start attaching an identity at this provider to the signed-in account: send
    the browser to `authorize_url`; it comes back to `redirect_to` with `?linked=`
    or `?error=`. Call it with credentials, so that the browser keeps the cookie
    that binds the flow to it."""
    started = oauth.start(
        uow,
        provider_id,
        body.redirect_to,
        request.cookies.get(BROWSER_COOKIE),
        client,
        link_user=principal.user.id,
    )
    response = Response(
        LinkStarted(authorize_url=started.url).model_dump_json(),
        media_type="application/json",
        headers=NO_STORE,
    )
    _bind(response, started.browser_token, oauth.public_url.startswith("https://"))
    return response


@router.get("/identities", responses=problems(401))
def list_identities(
    principal: CurrentPrincipal, uow: UnitOfWorkDep, identities: IdentitiesDep
) -> list[IdentityOut]:
    """The provider accounts linked to this one."""
    return [
        IdentityOut.model_validate(identity, from_attributes=True)
        for identity in identities.list(uow, principal)
    ]


@router.delete(
    "/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
def unlink(
    identity_id: uuid.UUID,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    identities: IdentitiesDep,
    client: ClientInfoDep,
) -> None:
    """Unlink a provider account: 409 `last_login_method` when it is the only way in."""
    identities.unlink(uow, principal, identity_id, client)


def _to_provider(started: Started, secure: bool) -> RedirectResponse:
    response = RedirectResponse(started.url, status_code=status.HTTP_302_FOUND, headers=NO_STORE)
    _bind(response, started.browser_token, secure)
    return response


def _bind(response: Response, browser_token: str, secure: bool) -> None:
    response.set_cookie(
        BROWSER_COOKIE,
        browser_token,
        max_age=int(FLOW_TTL.total_seconds()),
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )
