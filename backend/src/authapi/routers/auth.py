from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from authapi.deps import AuthServiceDep, ClientInfoDep, CurrentPrincipal, SessionDep
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.schemas.auth import (
    AuthResponse,
    LoginRequest,
    SessionOut,
    SignupRequest,
    TokenForm,
    TokenResponse,
    UserOut,
    VerificationPending,
)
from authapi.services.auth import IssuedToken

router = APIRouter(prefix="/auth", tags=["auth"])
# Endpoints that take credentials: each request counts against the per-IP limit
# before its body is even parsed (main.py registers the limits).
credentials_router = APIRouter(prefix="/auth", tags=["auth"], route_class=RateLimitedRoute)

# Tokens must not be kept by browsers or proxies.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _auth_response(issued: IssuedToken, response: Response) -> AuthResponse:
    response.headers.update(NO_STORE)
    return AuthResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        user=UserOut.model_validate(issued.user, from_attributes=True),
    )


@credentials_router.post(
    "/signup", status_code=status.HTTP_201_CREATED, responses=problems(409, 422, 429)
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
    return _auth_response(issued, response)


@credentials_router.post("/login", responses=problems(401, 403, 422, 429))
def login(
    request: Request,
    body: LoginRequest,
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> AuthResponse:
    """Exchange email and password for an access token."""
    issued = auth.login(session, body.email, body.password, client)
    return _auth_response(issued, response)


@credentials_router.post("/token", responses=problems(401, 403, 422, 429))
def token(
    request: Request,
    form: Annotated[TokenForm, Form()],
    response: Response,
    session: SessionDep,
    auth: AuthServiceDep,
    client: ClientInfoDep,
) -> TokenResponse:
    """OAuth2 password flow (form fields `username`, `password`), for Swagger's Authorize."""
    issued = auth.login(session, form.username, form.password, client)
    response.headers.update(NO_STORE)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout(
    principal: CurrentPrincipal, session: SessionDep, auth: AuthServiceDep, client: ClientInfoDep
) -> None:
    """Revoke this token's session: the same token is refused from now on."""
    auth.logout(session, principal, client)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout_all(
    principal: CurrentPrincipal, session: SessionDep, auth: AuthServiceDep, client: ClientInfoDep
) -> None:
    """Revoke every session of the user, on every device."""
    auth.logout_all(session, principal, client)


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
