"""The request's client as the services see it (a ClientInfo): its address, user
agent and request id, read once from the ASGI request."""

from __future__ import annotations

from fastapi import Request

from authapi.client_address import client_ip, limit_key
from authapi.config import Settings
from authapi.services.audit import ClientInfo


def client_info(request: Request) -> ClientInfo:
    """Who sent the request, for the audit trail and the per-client limits."""
    settings: Settings = request.app.state.settings
    ip_address = client_ip(request)
    return ClientInfo(
        ip_address=ip_address,
        user_agent=header_text(request, "user-agent"),
        request_id=getattr(request.state, "request_id", None),
        limit_key=limit_key(ip_address, settings.rate_limit_ipv6_prefix),
    )


def header_text(request: Request, name: str) -> str | None:
    """A header as the client most likely meant it: UTF-8 where its bytes are valid
    UTF-8 (a user agent naming a device in its own script), else Latin-1, which is
    how HTTP reads them."""
    value = request.headers.get(name)
    if value is None:
        return None
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value
