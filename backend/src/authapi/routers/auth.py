"""Signup, login, the OAuth2 token endpoint, refresh, logout and sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from authapi import errors
from authapi.body_limit import LargeBody
from authapi.deps import (
    AccountHolder,
    ClientInfoDep,
    CurrentPrincipal,
    EmailLoginDep,
    ListedOrigin,
    LoginDep,
    SessionsDep,
    TransportDep,
    UnitOfWorkDep,
)
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.routers.token_answers import auth_response, login_answer, token_response
from authapi.schemas.account import Accepted, EmailLoginVerify
from authapi.schemas.auth import (
    AuthResponse,
    LoginRequest,
    MeOut,
    RefreshRequest,
    SessionOut,
    SignupRequest,
    TokenForm,
    TokenResponse,
    user_fields,
)
from authapi.schemas.mfa import MfaChallengeResponse

router = APIRouter(prefix="/auth", tags=["auth"])
# Endpoints that take credentials (a password, a refresh token) and set the refresh
# cookie: each request counts against the per-IP limit before its body is even parsed
# (main.py registers the limits), then meets the transport's Origin check.
credentials_router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    route_class=RateLimitedRoute,
    dependencies=[ListedOrigin, LargeBody],
)


# One answer for a new address and a taken one (REQUIRE_VERIFIED_EMAIL=true).
SIGNUP_ACCEPTED = Accepted(
    detail="If this address can be used, a link to confirm it is on its way: open it, then log in."
)


@credentials_router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {
            "model": Accepted,
            "description": "With REQUIRE_VERIFIED_EMAIL=true, for every well-formed signup.",
        },
        **problems(403, 409, 422, 429),
    },
)
def signup(
    request: Request,
    body: SignupRequest,
    response: Response,
    uow: UnitOfWorkDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse | Accepted:
    """Create an account, mail a link to confirm its address, and return a first
    access token. With REQUIRE_VERIFIED_EMAIL=true: 202 and no token, the same answer
    for a new address and a taken one (whose owner gets a notice instead)."""
    created = logins.signup(uow, body.email, body.password, body.name, client)
    if created is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return SIGNUP_ACCEPTED
    return auth_response(created[1], response, transport)


@credentials_router.post("/login", responses=problems(401, 403, 422, 429))
def login(
    request: Request,
    body: LoginRequest,
    response: Response,
    uow: UnitOfWorkDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse | MfaChallengeResponse:
    """Exchange email and password for an access token and a refresh token; with the
    second factor on, for an `mfa_token` to send with a code to /auth/mfa/verify."""
    outcome = logins.login(uow, body.email, body.password, client)
    return login_answer(outcome, response, transport)


@credentials_router.post("/email-login/verify", responses=problems(400, 401, 403, 422, 429))
def verify_email_login(
    request: Request,
    body: EmailLoginVerify,
    response: Response,
    uow: UnitOfWorkDep,
    email_login: EmailLoginDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse | MfaChallengeResponse:
    """The mail's link token, or its code with the address: the login answer (or the
    `mfa_required` challenge when the account has a second factor). 400
    `link_invalid` / `invalid_code`; wrong codes count in the per-account throttle."""
    if body.token is not None:
        user = email_login.by_link(uow, body.token, client)
    else:
        user = email_login.by_code(uow, body.email or "", body.code or "", client)
    return login_answer(logins.first_factor(uow, user, client, "email"), response, transport)


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
    uow: UnitOfWorkDep,
    logins: LoginDep,
    sessions: SessionsDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> TokenResponse:
    """The OAuth2 token endpoint, for Swagger's Authorize and OAuth2 client libraries:
    `grant_type=password` (the default) with `username` (the email) and `password`,
    or `grant_type=refresh_token` with `refresh_token`. Errors carry OAuth2's `error`
    member beside `code`. Accounts with the second factor on get 403 `mfa_required`:
    they log in at /auth/login, then /auth/mfa/verify."""
    if form.grant_type in (None, "password"):
        username, password = _required(form, "username", "password")
        issued = logins.password_grant(uow, username, password, client)
    elif form.grant_type == "refresh_token":
        (refresh_token,) = _required(form, "refresh_token")
        issued = sessions.refresh(uow, refresh_token, client)
    else:
        raise errors.UnsupportedGrantType
    return token_response(issued, response, transport)


@credentials_router.post("/refresh", responses=problems(401, 403, 422, 429))
def refresh(
    request: Request,
    response: Response,
    uow: UnitOfWorkDep,
    sessions: SessionsDep,
    transport: TransportDep,
    client: ClientInfoDep,
    body: RefreshRequest | None = None,
) -> TokenResponse:
    """Trade a refresh token for a new access token and the refresh token's successor.
    Each refresh token works once; presented again after a few seconds it ends its
    session. With REFRESH_TOKEN_COOKIE=true the token comes from the cookie, and only
    from a page of an origin in CORS_ORIGINS (as for every endpoint that sets it)."""
    token = transport.read(request, body.refresh_token if body is not None else None)
    try:
        issued = sessions.refresh(uow, token, client)
    except (errors.TokenInvalid, errors.TokenRevoked, errors.TokenExpired) as refused:
        raise transport.refused(refused) from None
    return token_response(issued, response, transport)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout(
    response: Response,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    sessions: SessionsDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> None:
    """Revoke this token's session (its refresh token too): the same token is refused
    from now on. In cookie mode the refresh cookie is cleared, unless the session is
    an impersonation: it has no refresh token, and the cookie is the admin's own."""
    sessions.logout(uow, principal, client)
    if principal.impersonator_id is None:
        transport.take_back(response)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403))
def logout_all(
    response: Response,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    sessions: SessionsDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> None:
    """Revoke every session of the user, on every device."""
    sessions.logout_all(uow, principal, client)
    transport.take_back(response)


@router.get("/me", responses=problems(401))
async def me(principal: CurrentPrincipal) -> MeOut:
    """The user the token belongs to, and the admin behind an impersonated session."""
    user = principal.user
    return MeOut(
        **user_fields(user),
        impersonated_by=principal.impersonator_id,
    )


@router.get("/sessions", responses=problems(401))
def list_sessions(
    principal: CurrentPrincipal, uow: UnitOfWorkDep, sessions: SessionsDep
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
        for row, current in sessions.active_sessions(uow, principal)
    ]
