"""Client-IP resolution (authapi.client_address.resolve_client_ip).

Rate limits and the audit trail key on this address, so a client must not be able to
choose it by sending `X-Forwarded-For` itself.
"""

from __future__ import annotations

import ipaddress

import pytest

from authapi.client_address import UNKNOWN_CLIENT, limit_key, resolve_client_ip
from authapi.config import IPNetwork
from authapi.metrics import is_allowed


def networks(*cidrs: str) -> list[IPNetwork]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


NO_PROXIES: list[IPNetwork] = []
PROXIES = networks("127.0.0.1", "10.0.0.0/8")


@pytest.mark.parametrize("forwarded_for", [None, "", "203.0.113.9", "203.0.113.9, 10.0.0.7"])
def test_without_trusted_proxies_the_peer_is_the_client(forwarded_for: str | None) -> None:
    assert resolve_client_ip("127.0.0.1", forwarded_for, NO_PROXIES) == "127.0.0.1"


def test_untrusted_peer_cannot_spoof_its_address() -> None:
    assert resolve_client_ip("198.51.100.7", "203.0.113.9", PROXIES) == "198.51.100.7"


def test_untrusted_peer_claiming_to_come_through_a_trusted_proxy_is_ignored() -> None:
    assert resolve_client_ip("198.51.100.7", "203.0.113.9, 10.0.0.1", PROXIES) == "198.51.100.7"


def test_trusted_peer_without_forwarded_for_is_the_client() -> None:
    assert resolve_client_ip("10.0.0.5", None, PROXIES) == "10.0.0.5"


def test_trusted_peer_in_a_cidr_range_is_believed() -> None:
    assert resolve_client_ip("10.20.30.40", "203.0.113.9", PROXIES) == "203.0.113.9"


def test_right_most_untrusted_hop_wins_over_client_written_entries() -> None:
    """Entries left of it were written by the client and prove nothing."""
    forwarded_for = "1.1.1.1, 6.6.6.6, 203.0.113.9"
    assert resolve_client_ip("10.0.0.5", forwarded_for, PROXIES) == "203.0.113.9"


def test_chain_of_trusted_proxies_is_skipped() -> None:
    forwarded_for = "6.6.6.6, 203.0.113.9, 10.0.0.7, 10.1.2.3, 127.0.0.1"
    assert resolve_client_ip("10.0.0.5", forwarded_for, PROXIES) == "203.0.113.9"


def test_spaces_around_hops_do_not_matter() -> None:
    assert resolve_client_ip("10.0.0.5", "  203.0.113.9 ,10.0.0.7  ", PROXIES) == "203.0.113.9"


@pytest.mark.parametrize(
    "forwarded_for",
    [
        "not-an-ip",
        "203.0.113.9, garbage",
        "unknown",
        "203.0.113.9:4711",
        "<script>",
        "999.1.1.1",
        ", ,",
    ],
)
def test_garbage_forwarded_for_from_trusted_peer_makes_the_client_unknown(
    forwarded_for: str,
) -> None:
    """Not the proxy's own address (finding 8): behind a local proxy that is loopback,
    which /metrics allows. Unknown passes no allow-list and shares one limit bucket."""
    assert resolve_client_ip("127.0.0.1", forwarded_for, PROXIES) == UNKNOWN_CLIENT
    assert resolve_client_ip("10.0.0.5", forwarded_for, PROXIES) == UNKNOWN_CLIENT
    assert not is_allowed(UNKNOWN_CLIENT, networks("127.0.0.0/8", "::1"))


def test_ipv6_trusted_proxy_and_client() -> None:
    trusted = networks("::1", "fd00::/8")
    assert resolve_client_ip("::1", "2001:db8::1", trusted) == "2001:db8::1"
    assert resolve_client_ip("fd00::5", "2001:db8::1, fd00::9", trusted) == "2001:db8::1"


def test_ipv6_untrusted_peer_cannot_spoof() -> None:
    trusted = networks("::1", "fd00::/8")
    assert resolve_client_ip("2001:db8::5", "2001:db8::1", trusted) == "2001:db8::5"


def test_ipv6_hop_is_returned_in_canonical_form() -> None:
    """One client, one rate-limit key: spelling the address differently changes nothing."""
    trusted = networks("::1")
    assert resolve_client_ip("::1", "2001:DB8:0:0:0:0:0:1", trusted) == "2001:db8::1"


def test_mixed_ipv4_and_ipv6_chain() -> None:
    trusted = networks("10.0.0.0/8", "fd00::/8")
    assert resolve_client_ip("10.0.0.5", "203.0.113.9, fd00::2", trusted) == "203.0.113.9"


def test_an_ipv4_client_seen_through_ipv6_is_the_ipv4_client() -> None:
    """`::ffff:a.b.c.d` is a.b.c.d (finding 4): one client, one count, one allow-list
    entry, whether it came over IPv4 or a dual-stack socket."""
    assert resolve_client_ip("::ffff:203.0.113.9", None, NO_PROXIES) == "203.0.113.9"
    assert resolve_client_ip("::ffff:127.0.0.1", "203.0.113.9", PROXIES) == "203.0.113.9"
    assert resolve_client_ip("10.0.0.5", "::ffff:198.51.100.7", PROXIES) == "198.51.100.7"


def test_ipv6_clients_are_counted_by_their_network() -> None:
    """A subscriber holds a /64: its 2**64 addresses are one client to the limits."""
    assert limit_key("2001:db8:1:2::1", 64) == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64) == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1", 64) == "2001:db8:1:3::/64"
    assert limit_key("2001:db8:1:2::1", 48) == "2001:db8:1::/48"
    assert limit_key("2001:db8:1:2::1", 128) == "2001:db8:1:2::1/128"
    assert limit_key("203.0.113.9", 64) == "203.0.113.9"
    assert limit_key(UNKNOWN_CLIENT, 64) == UNKNOWN_CLIENT
