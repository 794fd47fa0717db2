from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from authapi import errors
from authapi.body_limit import LargeBody
from authapi.deps import AuthServiceDep, ClientInfoDep, CurrentPrincipal, SessionDep
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.cookie_origin import ListedOrigin
from authapi.routers.responses import problems
from authapi.schemas.auth import (
    AuthResponse,
    LoginRequest,
    RefreshRequest,
    SessionOut,
    SignupRequest,
    TokenForm,
    TokenResponse,
    UserOut,
    VerificationPending,
)
from authapi.schemas.mfa import MfaChallengeResponse
from authapi.services.auth import IssuedToken
from authapi.services.mfa import MfaChallenge

router = APIRouter(prefix="/auth", tags=["auth"])
# Endpoints that take credentials (a password, a refresh token) and set the refresh
# cookie: each request counts against the per-IP limit before its body is even parsed
# (main.py registers the limits), then meets the cookie mode's Origin check.
credentials_router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    route_class=RateLimitedRoute,
    dependencies=[ListedOrigin, LargeBody],
)

# Tokens must not be kept by browsers or proxies.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REFRESH_COOKIE = "authapi_refresh"
CLEARED_COOKIE = f"{REFRESH_COOKIE}=; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=strict"
_REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _cookie_mode(request: Request) -> bool:
    return bool(request.app.state.settings.refresh_token_cookie)


def _token_response(issued: IssuedToken, request: Request, response: Response) -> TokenResponse:
    """The token fields of every answer that issues tokens. In cookie mode the
    refresh token goes into the cookie and never into the JSON."""
    response.headers.update(NO_STORE)
    refresh_token: str | None = issued.refresh_token
    if _cookie_mode(request):
        _set_refresh_cookie(response, issued.refresh_token, issued.refresh_expires_in)
        refresh_token = None
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


def auth_response(issued: IssuedToken, request: Request, response: Response) -> AuthResponse:
    tokens = _token_response(issued, request, response)
    return AuthResponse(
        **tokens.model_dump(), user=UserOut.model_validate(issued.user, from_attributes=True)
    )


def _set_refresh_cookie(response: Response, value: str, max_age: int) -> None:
    """Sent only to /auth/*, never to scripts (HttpOnly), never over plain HTTP except
    to loopback (Secure), and never with a request another site started (Strict)."""
    response.set_cookie(
        REFRESH_COOKIE,
        value,
        max_age=max_age,
        path="/auth",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _clear_refresh_cookie(request: Request, response: Response) -> None:
    if _cookie_mode(request):
        _set_refresh_cookie(response, "", 0)


@credentials_router.post(
    "/signup", status_code=status.HTTP_201_CREATED, responses=problems(403, 409, 422, 429)
)
def signup(
    request: Request,
    body: SignupRequest,
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> AuthResponse | VerificationPending:
    """Create an account, mail a link to confirm its address, and return a first
    access token (with REQUIRE_VERIFIED_EMAIL=true: the user only, no token)."""
    user, issued = auth.signup(session, body.email, body.password, body.name, client)
    if issued is None:
        return VerificationPending(user=UserOut.model_validate(user, from_attributes=True))
    return auth_response(issued, request, response)


@credentials_router.post("/login", responses=problems(401, 403, 422, 429))
def login(
    request: Request,
    body: LoginRequest,
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> AuthResponse | MfaChallengeResponse:
    """Exchange email and password for an access token and a refresh token; with the
    second factor on, for an `mfa_token` to send with a code to /auth/mfa/verify."""
    outcome = auth.login(session, body.email, body.password, client)
    if isinstance(outcome, MfaChallenge):
        response.headers.update(NO_STORE)
        return MfaChallengeResponse(mfa_token=outcome.mfa_token, mfa_expires_in=outcome.expires_in)
    return auth_response(outcome, request, response)


def _required(form: TokenForm, *fields: str) -> list[str]:
    """The fields the grant needs, or the 422 that names each one missing."""
    values = [getattr(form, field) for field in fields]
    missing = [field for field, value in zip(fields, values, strict=True) if value is None]
    if missing:
        raise errors.ValidationFailed(
            f"grant_type={form.grant_type or 'password'} needs {', '.join(fields)}.",
            errors=[
                {"field": field, "message": "Field required", "code": "missing"}
                for field in missing
            ],
        )
    return values


@credentials_router.post("/token", responses=problems(400, 401, 403, 422, 429))
def token(
    request: Request,
    form: Annotated[TokenForm, Form()],
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> TokenResponse:
    """The OAuth2 token endpoint, for Swagger's Authorize and OAuth2 client libraries:
    `grant_type=password` (the default) with `username` (the email) and `password`,
    or `grant_type=refresh_token` with `refresh_token`. Errors carry OAuth2's `error`
    member beside `code`. Accounts with the second factor on get 403 `mfa_required`:
    they log in at /auth/login, then /auth/mfa/verify."""
    if form.grant_type in (None, "password"):
        username, password = _required(form, "username", "password")
        issued = auth.password_grant(session, username, password, client)
    elif form.grant_type == "refresh_token":
        (refresh_token,) = _required(form, "refresh_token")
        issued = auth.refresh(session, refresh_token, client)
    else:
        raise errors.UnsupportedGrantType
    return _token_response(issued, request, response)


@credentials_router.post("/refresh", responses=problems(401, 403, 422, 429))
def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
    body: RefreshRequest | None = None,
) -> TokenResponse:
    """Trade a refresh token for a new access token and the refresh token's successor.
    Each refresh token works once; presented again after a few seconds it ends its
    session. With REFRESH_TOKEN_COOKIE=true the token comes from the cookie, and only
    from a page of an origin in CORS_ORIGINS (as for every endpoint that sets it)."""
    if _cookie_mode(request):
        if body is not None and body.refresh_token is not None:
            raise errors.ValidationFailed(
                "The refresh token travels in the cookie here, never in the body.",
                errors=[
                    {
                        "field": "refresh_token",
                        "message": "Send no body: the cookie carries the token.",
                        "code": "cookie_mode",
                    }
                ],
            )
        token = request.cookies.get(REFRESH_COOKIE)
        if token is not None and not _REFRESH_TOKEN_SHAPE.fullmatch(token):
            malformed = errors.TokenInvalid("The refresh token is invalid.")
            malformed.headers["Set-Cookie"] = CLEARED_COOKIE
            raise malformed
    else:
        token = body.refresh_token if body is not None else None
    if token is None:
        raise errors.TokenMissing("Send the refresh token.")
    try:
        issued = auth.refresh(session, token, client)
    except (errors.TokenInvalid, errors.TokenRevoked, errors.TokenExpired) as refused:
        if _cookie_mode(request):  # a dead cookie would be sent again on every load
            refused.headers["Set-Cookie"] = CLEARED_COOKIE
        raise
    return _token_response(issued, request, response)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> None:
    """Revoke this token's session (its refresh token too): the same token is refused
    from now on. In cookie mode the refresh cookie is cleared."""
    auth.logout(session, principal, client)
    _clear_refresh_cookie(request, response)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout_all(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> None:
    """Revoke every session of the user, on every device."""
    auth.logout_all(session, principal, client)
    _clear_refresh_cookie(request, response)


@router.get("/me", responses=problems(401))
async def me(principal: CurrentPrincipal) -> UserOut:
    """The user the token belongs to."""
    return UserOut.model_validate(principal.user, from_attributes=True)


@router.get("/sessions", responses=problems(401))
def list_sessions(
    principal: CurrentPrincipal, session: SessionDep, auth: AuthServiceDep
) -> list[SessionOut]:
    """The user's active sessions, newest first; `current` marks this token's."""
    return [
        SessionOut(
            id=row.id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            current=current,
        )
        for row, current in auth.active_sessions(session, principal)
    ]
