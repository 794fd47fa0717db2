"""The caller's identity, as verified: a module that imports nothing of the rest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified authapi access token.

    `role` is the token's claim, or the database's current role when introspection
    is on. `impersonator` is the admin's user id (`act.sub`, RFC 8693) when the
    session is an admin acting as this user. `raw` holds every claim as signed.
    """

    sub: str
    sid: str
    role: str | None
    exp: int
    iat: int
    iss: str
    aud: str | tuple[str, ...]
    impersonator: str | None = None
    introspected: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Claims:
        """`payload` has passed the claim checks: the required claims are there."""
        audience = payload["aud"]
        role = payload.get("role")
        return cls(
            sub=str(payload["sub"]),
            sid=str(payload["sid"]),
            role=role if isinstance(role, str) else None,
            exp=int(payload["exp"]),
            iat=int(payload["iat"]),
            iss=str(payload["iss"]),
            aud=audience if isinstance(audience, str) else tuple(audience),
            impersonator=actor_of(payload.get("act")),
            raw=MappingProxyType(dict(payload)),
        )


def actor_of(act: object) -> str | None:
    """The `sub` of an RFC 8693 `act` claim, if it is one."""
    if isinstance(act, Mapping) and isinstance(act.get("sub"), str):
        return str(act["sub"])
    return None
