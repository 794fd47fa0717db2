"""Who the client is, as far as the per-IP limits, the audit trail and the metrics
allow-list are concerned: the socket peer, or behind a trusted proxy the address it
forwarded; an IPv6 client counted by its network."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

from authapi.config import IPNetwork, Settings

# The client address when a trusted proxy's X-Forwarded-For cannot be read: it never
# passes an allow-list, and every such request shares one limit bucket.
UNKNOWN_CLIENT = "unknown"


def resolve_client_ip(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The socket peer, unless it is a trusted proxy: then the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy.

    Entries left of the first untrusted one were written by the client and prove
    nothing, so they are never used. An entry that is not an address makes the
    client unknown: falling back to the proxy's own address would hand whoever
    garbles the header the proxy's standing (loopback, which may read /metrics).
    An IPv4 client seen through IPv6 (`::ffff:a.b.c.d`) is the IPv4 client.
    """
    if peer is None:
        return UNKNOWN_CLIENT
    peer = _plain_address(peer)
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if not hops:
        return UNKNOWN_CLIENT
    addresses = []
    for hop in reversed(hops):
        address = _forwarded_address(hop)
        if address is None:
            return UNKNOWN_CLIENT
        if not _is_trusted(address, trusted):
            return address
        addresses.append(address)
    return addresses[-1]


def _plain_address(text: str) -> str:
    """The canonical text of an address (anything that is not one as is)."""
    try:
        return _canonical(ipaddress.ip_address(text))
    except ValueError:
        return text


def _canonical(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address's canonical text, IPv4-mapped IPv6 as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def limit_key(address: str, ipv6_prefix: int) -> str:
    """Whose count a client's requests go to: an IPv4 address, or the IPv6 network of
    `ipv6_prefix` bits around an IPv6 one. One subscriber holds a whole /64 (often a
    /56 or /48): counting each IPv6 address apart would give them 2**64 limits."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))


def _forwarded_address(hop: str) -> str | None:
    """An `X-Forwarded-For` entry as a plain address, or None if it is not one.

    An IPv6 zone (`fe80::1%eth0`) names an interface of the proxy's host: it says
    nothing about the client, and would let a header carry any text (NUL, a
    kilobyte) into the audit trail, so an entry with one counts as garbled.
    """
    try:
        address = ipaddress.ip_address(hop)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return _canonical(address)


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(request: Request) -> str:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else None
    return resolve_client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)


def client_key(request: Request) -> str:
    """The per-IP limits' key of the request's client (see `limit_key`)."""
    settings: Settings = request.app.state.settings
    return limit_key(client_ip(request), settings.rate_limit_ipv6_prefix)
