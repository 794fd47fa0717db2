"""How the refresh token travels: in the JSON body, or in an `HttpOnly` cookie
(REFRESH_TOKEN_COOKIE=true). One transport is chosen at start-up
(`refresh_transport`); endpoints ask it, and never branch on the mode themselves.
"""

from __future__ import annotations

import re
from typing import Protocol

from fastapi import Request, Response

from authapi import errors
from authapi.config import Settings

REFRESH_COOKIE = "authapi_refresh"
CLEARED_COOKIE = f"{REFRESH_COOKIE}=; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=strict"
_REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


class RefreshTransport(Protocol):
    cookie_mode: bool

    def check_origin(self, request: Request) -> None:
        """Before any work at an endpoint that sets or reads the refresh token."""

    def read(self, request: Request, body_token: str | None) -> str:
        """The refresh token the client sent, or the refusal."""

    def hand_out(self, response: Response, token: str, max_age: int) -> str | None:
        """Give the client a refresh token: the value for the JSON answer, or None
        when it went into the cookie."""

    def take_back(self, response: Response) -> None:
        """The client's refresh token is dead (logout)."""

    def refused(self, error: errors.AppError) -> errors.AppError:
        """A refused refresh token, as the answer that tells the client to drop it."""


class BodyTransport:
    """The token in JSON both ways; the client keeps it."""

    cookie_mode = False

    def check_origin(self, request: Request) -> None:
        return None

    def read(self, request: Request, body_token: str | None) -> str:
        if body_token is None:
            raise errors.TokenMissing("Send the refresh token.")
        return body_token

    def hand_out(self, response: Response, token: str, max_age: int) -> str | None:
        return token

    def take_back(self, response: Response) -> None:
        return None

    def refused(self, error: errors.AppError) -> errors.AppError:
        return error


class CookieTransport:
    """The token in a cookie that scripts never see, sent only to /auth/*."""

    cookie_mode = True

    def __init__(self, origins: list[str]) -> None:
        self._origins = frozenset(origins)

    def check_origin(self, request: Request) -> None:
        """Only a page of an origin in CORS_ORIGINS may call; anything else gets 403
        before any work (no password hashed, no session, no cookie).

        SameSite=Strict keeps the cookie off requests that other sites start, but not
        a new cookie off their answers: a form another site posts to /auth/token
        would log the browser in to the attacker's account (login CSRF). Browsers
        send Origin with every cross-origin request and every fetch POST; a request
        without one is no page of a listed origin.
        """
        if request.headers.get("origin") not in self._origins:
            raise errors.OriginNotAllowed

    def read(self, request: Request, body_token: str | None) -> str:
        if body_token is not None:
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
        if token is None:
            raise errors.TokenMissing("Send the refresh token.")
        if not _REFRESH_TOKEN_SHAPE.fullmatch(token):
            raise self.refused(errors.TokenInvalid("The refresh token is invalid."))
        return token

    def hand_out(self, response: Response, token: str, max_age: int) -> str | None:
        self._set(response, token, max_age)
        return None

    def take_back(self, response: Response) -> None:
        self._set(response, "", 0)

    def refused(self, error: errors.AppError) -> errors.AppError:
        # A dead cookie would be sent again on every page load.
        error.headers["Set-Cookie"] = CLEARED_COOKIE
        return error

    @staticmethod
    def _set(response: Response, value: str, max_age: int) -> None:
        """Sent only to /auth/*, never to scripts (HttpOnly), never over plain HTTP
        except to loopback (Secure), and never with a request another site started
        (Strict)."""
        response.set_cookie(
            REFRESH_COOKIE,
            value,
            max_age=max_age,
            path="/auth",
            secure=True,
            httponly=True,
            samesite="strict",
        )


def refresh_transport(settings: Settings) -> RefreshTransport:
    if settings.refresh_token_cookie:
        return CookieTransport(settings.cors_origins)
    return BodyTransport()
