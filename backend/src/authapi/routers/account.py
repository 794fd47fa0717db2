"""The account's life by email: profile, password change and reset, email
verification and change, deletion."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from authapi.body_limit import LargeBody
from authapi.deps import (
    AccountDep,
    AccountHolder,
    ClientInfoDep,
    CurrentPrincipal,
    EmailLinksDep,
    EmailLoginDep,
    TokenThenLargeBody,
    UnitOfWorkDep,
)
from authapi.rate_limit import RateLimitedRoute
from authapi.routers.responses import problems
from authapi.schemas.account import (
    Accepted,
    AccountDeleteRequest,
    EmailChangeRequest,
    EmailLoginRequest,
    EmailVerifyRequest,
    PasswordChangeRequest,
    PasswordForgotRequest,
    PasswordResetRequest,
    ProfileUpdate,
)
from authapi.schemas.auth import UserOut

# One answer per 202, whatever happened behind it (forgot must not tell who exists).
FORGOT_ACCEPTED = Accepted(detail="If an account uses this address, a reset link is on its way.")
EMAIL_LOGIN_ACCEPTED = Accepted(
    detail="If an account uses this address, a sign-in link and code are on their way."
)
RESEND_ACCEPTED = Accepted(detail="If the address is still unverified, a new link is on its way.")
CHANGE_ACCEPTED = Accepted(
    detail="If the new address can be used, a confirmation link is on its way to it; "
    "the address changes when it is opened."
)

router = APIRouter(prefix="/auth", tags=["account"], dependencies=[TokenThenLargeBody])
# Reachable without a token, with a link token or an email: limited per client IP
# before the body is parsed (main.py registers the limits).
link_router = APIRouter(
    prefix="/auth", tags=["account"], route_class=RateLimitedRoute, dependencies=[LargeBody]
)
# Logged in, and mailing whoever is named: limited per client IP like the link router,
# and a large body is validated only after the token proved good.
mailing_router = APIRouter(
    prefix="/auth",
    tags=["account"],
    route_class=RateLimitedRoute,
    dependencies=[TokenThenLargeBody],
)


@router.patch("/me", responses=problems(401, 422))
def update_me(
    body: ProfileUpdate,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    account: AccountDep,
    client: ClientInfoDep,
) -> UserOut:
    """Change the profile (`name`; null clears it). Fields left out stay as they are."""
    changes = body.model_dump(exclude_unset=True)
    user = account.update_profile(uow, principal, changes, client)
    return UserOut.model_validate(user, from_attributes=True)


@router.post(
    "/password/change",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(400, 401, 403, 422, 429),
)
def change_password(
    body: PasswordChangeRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    account: AccountDep,
    client: ClientInfoDep,
) -> None:
    """Set a new password. Every other session of the account is logged out; this one
    stays. A wrong `current_password` counts towards the per-account login throttle."""
    account.change_password(uow, principal, body.current_password, body.new_password, client)


@link_router.post(
    "/password/forgot", status_code=status.HTTP_202_ACCEPTED, responses=problems(422, 429)
)
def forgot_password(
    request: Request,
    response: Response,
    body: PasswordForgotRequest,
    uow: UnitOfWorkDep,
    links: EmailLinksDep,
    client: ClientInfoDep,
) -> Accepted:
    """Mail a password reset link, if an active account has this address. The answer
    is the same either way, so it does not tell who has an account."""
    links.request_password_reset(uow, body.email, client)
    return FORGOT_ACCEPTED


@link_router.post(
    "/email-login",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(422, 429),
)
def request_email_login(
    request: Request,
    body: EmailLoginRequest,
    uow: UnitOfWorkDep,
    email_login: EmailLoginDep,
    client: ClientInfoDep,
) -> Accepted:
    """Mail a sign-in link and a 6-digit code (15 minutes, either once). The same
    answer, after the same work, whether or not an account has the address."""
    email_login.request(uow, body.email, client)
    return EMAIL_LOGIN_ACCEPTED


@link_router.post(
    "/password/reset", status_code=status.HTTP_204_NO_CONTENT, responses=problems(400, 422, 429)
)
def reset_password(
    request: Request,
    response: Response,
    body: PasswordResetRequest,
    uow: UnitOfWorkDep,
    links: EmailLinksDep,
    client: ClientInfoDep,
) -> None:
    """Set a new password with the token of a reset link. Every session of the account
    is logged out; the link works once."""
    links.reset_password(uow, body.token, body.new_password, client)


@link_router.post("/email/verify", responses=problems(400, 409, 422, 429))
def verify_email(
    request: Request,
    response: Response,
    body: EmailVerifyRequest,
    uow: UnitOfWorkDep,
    links: EmailLinksDep,
    client: ClientInfoDep,
) -> UserOut:
    """Confirm an address with the token of a mailed link: the signup address, or the
    new address of an email change (which takes effect now)."""
    user = links.verify_email(uow, body.token, client)
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/email/verify/resend", status_code=status.HTTP_202_ACCEPTED, responses=problems(401))
def resend_verification(
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    account: AccountDep,
    client: ClientInfoDep,
) -> Accepted:
    """Mail a fresh verification link while the address is unverified."""
    account.resend_verification(uow, principal, client)
    return RESEND_ACCEPTED


@mailing_router.post(
    "/email/change",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 401, 403, 422, 429),
)
def change_email(
    request: Request,
    response: Response,
    body: EmailChangeRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    account: AccountDep,
    client: ClientInfoDep,
) -> Accepted:
    """Ask to change the address: a link goes to the new address, a notice to the old.
    The address changes only when the link is opened (409 `email_taken` then if it
    was taken meanwhile). An address that already has an account gets the same 202,
    and its owner a notice instead of a link: the answer never tells who has an
    account. Limited per client IP (RATE_LIMIT_AUTH) and per account
    (RATE_LIMIT_EMAIL_CHANGE)."""
    account.request_email_change(uow, principal, body.new_email, body.password, client)
    return CHANGE_ACCEPTED


@router.post(
    "/me/delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(400, 401, 403, 422, 429),
)
def delete_me(
    body: AccountDeleteRequest,
    principal: AccountHolder,
    uow: UnitOfWorkDep,
    account: AccountDep,
    client: ClientInfoDep,
) -> None:
    """Delete the account, its sessions and its pending mail. The audit trail keeps
    its rows without the email address."""
    account.delete_account(uow, principal, body.password, client)
