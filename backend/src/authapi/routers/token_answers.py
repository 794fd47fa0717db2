"""The answer of every endpoint that issues tokens (signup, login, the token endpoint,
the second step, refresh): the refresh token handed out by the transport, and
headers that keep browsers and proxies from storing any of it."""

from __future__ import annotations

from fastapi import Response

from authapi.schemas.auth import AuthResponse, TokenResponse, UserOut
from authapi.schemas.mfa import MfaChallengeResponse
from authapi.services.mfa import MfaChallenge
from authapi.services.sessions import IssuedToken
from authapi.transport import RefreshTransport

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_response(
    issued: IssuedToken, response: Response, transport: RefreshTransport
) -> TokenResponse:
    """In cookie mode the refresh token goes into the cookie and never into the JSON."""
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=transport.hand_out(response, issued.refresh_token, issued.refresh_expires_in),
        refresh_expires_in=issued.refresh_expires_in,
    )


def auth_response(
    issued: IssuedToken, response: Response, transport: RefreshTransport
) -> AuthResponse:
    tokens = token_response(issued, response, transport)
    return AuthResponse(
        **tokens.model_dump(), user=UserOut.model_validate(issued.user, from_attributes=True)
    )


def login_answer(
    outcome: IssuedToken | MfaChallenge, response: Response, transport: RefreshTransport
) -> AuthResponse | MfaChallengeResponse:
    """A login's answer (password or social): tokens, or the second step's challenge."""
    if isinstance(outcome, MfaChallenge):
        response.headers.update(NO_STORE)
        return MfaChallengeResponse(
            mfa_token=outcome.mfa_token,
            mfa_expires_in=outcome.expires_in,
            methods=outcome.methods,
        )
    return auth_response(outcome, response, transport)
