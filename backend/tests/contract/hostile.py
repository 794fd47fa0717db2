"""Hypothesis strategies for what schemathesis does not generate, and a way to send it.

schemathesis draws values that fit the schema (a valid `email`, a string matching
the `pattern` that forbids control characters), and never lone surrogates, raw
header bytes or the headers the schema does not declare. Requests built here put
those into every field, header, path and query parameter, and go out as raw bytes
(JSON with `\\ud800` escapes, percent-encoded bytes that are not UTF-8), which is how
a hostile client sends them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi.testclient import TestClient
from hypothesis import strategies as st

CONTROL = st.one_of(st.characters(max_codepoint=0x1F), st.sampled_from("\x7f\x85\x9f"))
SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
# Right-to-left override, BOM, zero-width space, a combining accent, noncharacters,
# characters whose case or normal forms change length, a fullwidth @, a line separator.
ODD = st.sampled_from(
    [
        "\u202e",
        "\ufeff",
        "\u200b",
        "\u0301",
        "\uffff",
        "\ufffd",
        "\ufdfa",
        "\u0130",
        "\U0001d518",
        "\U0010ffff",
        "\u00df",
        "\uff20",
        "\u2028",
    ]
)
# Just past each bound the API sets (64, 100, 128, 200, 320, 1024), and far past them.
LONG_LENGTHS = st.sampled_from([65, 101, 129, 201, 321, 1025, 5000])


@st.composite
def hostile_text(draw: st.DrawFn, valid: str | None = None) -> str:
    """A string a well-behaved client would never send; sometimes hidden inside a
    valid value, so that it passes the checks that look at the rest."""
    special = st.one_of(CONTROL, SURROGATE, ODD)
    kind = draw(st.sampled_from(["mixed", "long", "inside"] if valid else ["mixed", "long"]))
    if kind == "long":
        return draw(st.one_of(special, st.just("a"))) * draw(LONG_LENGTHS)
    chars = draw(st.lists(st.one_of(special, st.characters()), max_size=11))
    chars.insert(draw(st.integers(0, len(chars))), draw(special))  # at least one
    text = "".join(chars)
    if kind == "inside" and valid:
        at = draw(st.integers(0, len(valid)))
        return valid[:at] + text + valid[at:]
    return text


def hostile_bytes() -> st.SearchStrategy[bytes]:
    """Raw header bytes: any octet, text encoded with its surrogates, or a lot of it."""
    return st.one_of(
        st.binary(max_size=40),
        hostile_text().map(lambda text: text.encode("utf-8", "surrogatepass")),
        LONG_LENGTHS.map(lambda length: b"\x00" * length),
    )


def forwarded_for() -> st.SearchStrategy[bytes]:
    """`X-Forwarded-For` lists: real addresses, zoned IPv6, and junk, mixed."""
    hop = st.one_of(
        st.ip_addresses().map(str),
        st.ip_addresses(v=6).map(lambda address: f"{address}%eth0"),
        st.builds(lambda zone: f"fe80::1%{zone}", hostile_text()),
        hostile_text(),
    )
    return st.lists(hop, min_size=1, max_size=4).map(
        lambda hops: ", ".join(hops).encode("utf-8", "surrogatepass")
    )


def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def cursors() -> st.SearchStrategy[str]:
    """Cursors shaped like ours (base64 of `time|id`) around any time and offset,
    including times that exist in no UTC (year 1 east of Greenwich), and junk."""
    shaped = st.builds(
        lambda when, event_id: (
            base64.urlsafe_b64encode(f"{when.isoformat()}|{event_id.hex}".encode())
            .decode()
            .rstrip("=")
        ),
        st.datetimes(timezones=st.integers(-1439, 1439).map(_offset)),
        st.uuids(),
    )
    return st.one_of(shaped, hostile_text())


# httpx sends no longer URL (and servers refuse far shorter ones before the app).
MAX_URL_LENGTH = 65_536


@dataclass
class RawRequest:
    """A request as bytes on the wire; values may be text or already bytes."""

    method: str
    path: str
    path_parameters: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    media_type: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def url(self) -> str:
        path = self.path.format(
            **{name: quote(_octets(value), safe="") for name, value in self.path_parameters.items()}
        )
        query = [(name, _octets(value)) for name, value in self.query.items()]
        return f"{path}?{urlencode(query)}" if query else path

    def send(self, client: TestClient) -> httpx.Response:
        url = self.url()
        headers = list(self.headers)
        content: bytes | None = None
        if self.media_type == "application/json":
            content = json.dumps(self.body).encode()  # ASCII: lone surrogates as \ud800
            headers.append((b"content-type", b"application/json"))
        elif self.media_type == "application/x-www-form-urlencoded":
            fields = self.body if isinstance(self.body, dict) else {}
            content = urlencode([(name, _octets(value)) for name, value in fields.items()]).encode()
            headers.append((b"content-type", self.media_type.encode()))
        return client.request(self.method, url, content=content, headers=headers)


def _octets(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return json.dumps(value).encode() if isinstance(value, list | dict) else str(value).encode()
