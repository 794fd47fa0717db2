"""A notice when an account signs in from a device it has not used before.

A device is a user-agent family ("Firefox on Linux") and an IP network (/24 for
IPv4, /48 for IPv6): a browser update or a new address from the same provider is
not a new device; another browser, or another place, is. Every sign-in goes through
SessionService.issue, which asks here first: the very first device of an account is
only remembered, a known one has its sighting moved on, and a new one (or one not
seen for 90 days) is remembered and mails the owner (NOTIFY_NEW_DEVICE).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from authapi.models import User
from authapi.models.base import utcnow
from authapi.repositories import known_devices
from authapi.services.audit import ClientInfo
from authapi.services.mail import MailService
from authapi.unit_of_work import UnitOfWork

REMEMBERED_FOR = timedelta(days=90)

# The first of these found in a User-Agent names its browser (order matters: Edge
# and Opera also say Chrome, Chrome also says Safari), the first OS its system.
BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
SYSTEMS = [
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]
_PRODUCT = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,40}")


def family(user_agent: str | None) -> str:
    """ "Firefox on Linux", "curl", or "unknown": what a person would call the device's
    software, without its version (an update is not a new device)."""
    if not user_agent:
        return "unknown"
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser is None:
        product = _PRODUCT.match(user_agent)
        browser = product.group(0).split("/")[0] if product else "unknown"
    return f"{browser} on {system}" if system else browser


def network(ip_address: str | None) -> str:
    """The /24 of an IPv4 address, the /48 of an IPv6 one, else the value itself."""
    if not ip_address:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ip_address[:64]
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class NewDeviceNotice:
    def __init__(
        self, *, mail: MailService, enabled: bool, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._mail = mail
        self._enabled = enabled
        self._clock = clock

    def signed_in(self, uow: UnitOfWork, user: User, client: ClientInfo) -> None:
        """Remember the device of a sign-in, and mail the owner if it is a new one."""
        now = self._clock()
        device = (family(client.user_agent), network(client.ip_address))
        seen = known_devices.seen_since(uow.session, user.id, now - REMEMBERED_FOR)
        first = not seen and known_devices.count(uow.session, user.id) == 0
        known_devices.remember(uow.session, user.id, *device, now)
        if device in seen or first or not self._enabled:
            return
        self._mail.queue_new_device_notice(uow, user, *device, now)
