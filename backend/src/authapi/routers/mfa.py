"""The second factor: TOTP enrolment, recovery codes, and the login's second step."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from authapi.body_limit import LargeBody
from authapi.deps import (
    AccountHolder,
    ClientInfoDep,
    ListedOrigin,
    LoginDep,
    MfaDep,
    TokenThenLargeBody,
    TransportDep,
    UnitOfWorkDep,
)
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.routers.token_answers import NO_STORE, auth_response
from authapi.schemas.auth import AuthResponse
from authapi.schemas.mfa import (
    MfaConfirmedRequest,
    MfaVerifyRequest,
    RecoveryCodes,
    TotpConfirmRequest,
    TotpSetup,
    TotpSetupRequest,
)
from authapi.schemas.passkeys import CeremonyOut, MfaPasskeyOptionsRequest

router = APIRouter(prefix="/auth/mfa", tags=["mfa"], dependencies=[TokenThenLargeBody])
# The second step takes no bearer token: limited per client IP before the body is
# parsed, like login (main.py registers the limit); it sets the refresh cookie too.
verify_router = APIRouter(
    prefix="/auth/mfa",
    tags=["mfa"],
    route_class=RateLimitedRoute,
    dependencies=[ListedOrigin, LargeBody],
)


@router.post("/totp/setup", responses=problems(400, 401, 403, 409, 422, 429))
def setup_totp(
    response: Response,
    body: TotpSetupRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    mfa: MfaDep,
    client: ClientInfoDep,
) -> TotpSetup:
    """Start enrolling an authenticator app: a new secret, pending until a code of it
    is confirmed (a new setup replaces a pending one). Needs the password again."""
    response.headers.update(NO_STORE)
    enrolment = mfa.setup(uow, principal, body.password, client)
    return TotpSetup(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/totp/confirm", responses=problems(400, 401, 403, 409, 422, 429))
def confirm_totp(
    response: Response,
    body: TotpConfirmRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    mfa: MfaDep,
    client: ClientInfoDep,
) -> RecoveryCodes:
    """Turn the factor on with a current code of the pending secret. The answer holds
    the ten recovery codes, shown this once."""
    response.headers.update(NO_STORE)
    return RecoveryCodes(recovery_codes=mfa.confirm(uow, principal, body.code, client))


@router.post(
    "/totp/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(400, 401, 403, 409, 422, 429),
)
def disable_totp(
    body: MfaConfirmedRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    mfa: MfaDep,
    client: ClientInfoDep,
) -> None:
    """Turn the factor off (password and a code or recovery code); the recovery codes
    are deleted."""
    mfa.disable(uow, principal, body.password, body.code, client)


@router.post("/recovery-codes", responses=problems(400, 401, 403, 409, 422, 429))
def regenerate_recovery_codes(
    response: Response,
    body: MfaConfirmedRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    mfa: MfaDep,
    client: ClientInfoDep,
) -> RecoveryCodes:
    """A fresh set of ten recovery codes; every earlier code stops working."""
    response.headers.update(NO_STORE)
    codes = mfa.regenerate_recovery_codes(uow, principal, body.password, body.code, client)
    return RecoveryCodes(recovery_codes=codes)


@verify_router.post("/verify", responses=problems(400, 401, 403, 422, 429))
def verify(
    request: Request,
    response: Response,
    body: MfaVerifyRequest,
    uow: UnitOfWorkDep,
    logins: LoginDep,
    transport: TransportDep,
    client: ClientInfoDep,
) -> AuthResponse:
    """The login's second step: the `mfa_token` from /auth/login and a current code
    (or an unused recovery code), or `{mfa_token, ceremony, credential}` answering
    /auth/mfa/passkey/options, give the usual tokens. A wrong code can be retried
    while the token lives; each counts in the per-account throttle."""
    if body.ceremony is not None and body.credential is not None:
        issued = logins.verify_mfa_passkey(
            uow, body.mfa_token, body.ceremony, body.credential, client
        )
    else:  # the body's rule: a code, then
        issued = logins.verify_mfa(uow, body.mfa_token, body.code or "", client)
    return auth_response(issued, response, transport)


@verify_router.post("/passkey/options", responses=problems(400, 401, 422, 429))
def passkey_options(
    request: Request,
    response: Response,
    body: MfaPasskeyOptionsRequest,
    uow: UnitOfWorkDep,
    logins: LoginDep,
    client: ClientInfoDep,
) -> CeremonyOut:
    """Options for answering the second step with a passkey of the account (its
    passkeys in `allowCredentials`)."""
    response.headers.update(NO_STORE)
    ceremony = logins.passkey_step_options(uow, body.mfa_token, client)
    return CeremonyOut(ceremony=ceremony.ceremony, options=ceremony.options)
