"""Request bodies: refused above MAX_REQUEST_BYTES before they are read, and the large
ones below it validated off the event loop.

Without a limit, one 13 MB JSON object of 700,000 keys sent to /auth/refresh took 16 s
to answer (a 422 with one error per key) and stalled /health for as long: FastAPI
reads the whole body, then parses and validates it on the event loop.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authapi.errors import MAX_LISTED_ERRORS, PROBLEM_JSON, PayloadTooLarge, problem_body

# Bodies up to this size are validated where FastAPI does it, on the event loop: at
# worst a few hundred wrong fields, about a millisecond. Real bodies are smaller.
INLINE_BODY_BYTES = 4096


class BodyLimitMiddleware:
    """Pure ASGI: a request body above `max_bytes` gets 413 `payload_too_large`, and
    the app never sees more than `max_bytes` of it.

    A Content-Length above the limit is refused before anything is read (a client
    that sent `Expect: 100-continue` is never asked for the body). Within the limit
    the server (h11, httptools) delivers exactly that many bytes, so the app reads
    them itself. A body without one (chunked) is read here first, counted as it
    arrives and refused as soon as it passes the limit; the app then gets it whole.
    The 413 says `Connection: close`, so the server drops the rest unread.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        if not chunked:
            # Within the declared length, or no body at all (neither header: a GET).
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body ended: nobody to answer
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal whole
            if whole is None:
                return await receive()  # after the body: the wait for a disconnect
            message, whole = whole, None
            return message

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"The request body is larger than the {self.max_bytes} bytes accepted here."
        )
        request_id = scope.get("state", {}).get("request_id")
        body = json.dumps(problem_body(error, request_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# Methods whose requests carry a body: without a length, theirs is counted here even
# with no Transfer-Encoding (HTTP/2 frames a body with neither header).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared length (None without one), and whether the body is counted here:
    sent without a valid length. A GET with neither header has no body (RFC 9112,
    6.3), so the requests that matter most for speed (/auth/me) pass straight on."""
    declared: int | None = None
    counted = scope.get("method") in _BODY_METHODS
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            declared = int(value)
        elif name == b"transfer-encoding":
            counted = True
    return declared, counted and declared is None


async def validate_large_body(request: Request) -> None:
    """A dependency: a large JSON body is validated in a worker thread, and refused from
    there when it is invalid, so that FastAPI's own validation (on the event loop,
    once the dependencies are solved) only ever meets a valid body, which is small.

    Measured on two cores (CPU time of the longest step of the event loop): a 64 KiB
    object of 7,700 unknown keys sent to /auth/refresh held it 21 ms (median; 136 ms
    at worst) before, 2 ms after, most of it the parse that FastAPI still does there.
    A valid body is validated twice: microseconds.
    """
    field = getattr(request.scope.get("route"), "body_field", None)
    # Forms are parsed by Starlette, which refuses more than 1,000 fields by itself.
    if field is None or isinstance(field.field_info, Form) or not _is_json(request):
        return
    if len(await request.body()) <= INLINE_BODY_BYTES:
        return
    value = await request.json()  # parsed by FastAPI already

    def first_errors() -> tuple[list[dict[str, Any]], int]:
        _valid, errors = field.validate(value, {}, loc=("body",))
        return errors[:MAX_LISTED_ERRORS], len(errors)

    listed, count = await run_in_threadpool(first_errors)
    if count:
        raise FirstValidationErrors(listed, count)


# For the `dependencies` of routers anyone may call (the bearer-token routers use
# deps.TokenThenLargeBody: a stranger's body then costs no validation at all).
LargeBody = Depends(validate_large_body)


class FirstValidationErrors(RequestValidationError):
    """The first errors of a body found invalid off the loop, and how many it had:
    thousands of them freed on the loop would cost a good part of what was saved."""

    def __init__(self, errors: list[dict[str, Any]], error_count: int) -> None:
        super().__init__(errors)
        self.error_count = error_count


def _is_json(request: Request) -> bool:
    """FastAPI's test: `application/json` or `application/*+json`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))
