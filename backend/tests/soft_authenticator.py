"""A software WebAuthn authenticator, so passkey tests need no browser.

The API tests drive registration and sign-in through HTTP alone; they need something that
answers the server's options the way a real authenticator and browser would, with real keys,
real CBOR and real signatures, so the server's verifier is exercised and not mocked. The
browser tests use Chromium's virtual authenticator instead. Its knobs (flags, counter, origin,
RP ID, challenge, a spoiled signature) are the ways a response can be wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ES256 = -7
RS256 = -257
SUPPORTED_ALGS = (ES256, RS256)

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


class InvalidStateError(ValueError):
    """The browser's answer when an excluded credential is already on the authenticator."""


class NoCredentialError(ValueError):
    """The browser's answer when no credential on the authenticator fits the request."""


def b64url(data: bytes) -> str:
    """WebAuthn's JSON forms carry bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Options from the server arrive unpadded; the decoder wants padding back."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    """One key pair held by the authenticator, scoped to an RP as a real passkey is."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    alg: int
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    backup_eligible: bool = True
    backed_up: bool = True

    @property
    def id_b64(self) -> str:
        """The form the server stores and lists in allowCredentials."""
        return b64url(self.id)


def _cose_public_key(credential: SoftCredential) -> bytes:
    """The server only ever sees the public key in this COSE form."""
    key = credential.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: ES256,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
    rsa_numbers = key.public_key().public_numbers()
    n = rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")
    e = rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")
    return cbor2.dumps({1: 3, 3: RS256, -1: n, -2: e})


def _sign(credential: SoftCredential, data: bytes) -> bytes:
    key = credential.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    payload = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    return json.dumps(payload, separators=(",", ":")).encode()


def _flags(*, up: bool, uv: bool, be: bool, bs: bool, at: bool = False) -> int:
    return (
        (FLAG_UP if up else 0)
        | (FLAG_UV if uv else 0)
        | (FLAG_BE if be else 0)
        | (FLAG_BS if bs else 0)
        | (FLAG_AT if at else 0)
    )


class SoftAuthenticator:
    """Authenticator and browser in one: it also writes clientDataJSON, as the browser would."""

    def __init__(self, origin: str, *, aaguid: bytes = bytes(16), counter: bool = False) -> None:
        if len(aaguid) != 16:
            raise ValueError("an AAGUID is 16 bytes")
        self.origin = origin
        self.aaguid = aaguid
        self.counter = counter
        self.credentials: list[SoftCredential] = []

    def _origin_host(self, origin: str) -> str:
        host = urlsplit(origin).hostname
        if not host:
            raise ValueError(f"origin without a host: {origin!r}")
        return host

    def create(
        self,
        options: dict[str, Any],
        *,
        alg: int | None = None,
        user_present: bool = True,
        user_verified: bool = True,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        backup_eligible: bool = True,
        backed_up: bool = True,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): options JSON in, RegistrationResponseJSON out."""
        origin = origin or self.origin
        rp_id = rp_id or options.get("rp", {}).get("id") or self._origin_host(origin)
        if alg is None:
            offered = [param.get("alg") for param in options.get("pubKeyCredParams", [])]
            alg = next((a for a in offered if a in SUPPORTED_ALGS), None)
            if alg is None:
                raise ValueError(f"no supported algorithm among {offered}")
        if alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported algorithm {alg}")

        excluded = {b64url_decode(c["id"]) for c in options.get("excludeCredentials") or []}
        if any(cred.id in excluded for cred in self.credentials):
            raise InvalidStateError("a credential in excludeCredentials is already registered")

        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if alg == ES256:
            private_key = ec.generate_private_key(ec.SECP256R1())
        else:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        credential = SoftCredential(
            id=credential_id or os.urandom(32),
            private_key=private_key,
            alg=alg,
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
            backup_eligible=backup_eligible,
            backed_up=backed_up,
        )

        flags = _flags(up=user_present, uv=user_verified, be=backup_eligible, bs=backed_up, at=True)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + (0).to_bytes(4, "big")
            + self.aaguid
            + len(credential.id).to_bytes(2, "big")
            + credential.id
            + _cose_public_key(credential)
        )
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data("webauthn.create", challenge or options["challenge"], origin)
        self.credentials.append(credential)
        return {
            "id": credential.id_b64,
            "rawId": credential.id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _choose(self, options: dict[str, Any], rp_id: str) -> SoftCredential:
        allowed = [b64url_decode(c["id"]) for c in options.get("allowCredentials") or []]
        if allowed:
            for cred in self.credentials:
                if cred.id in allowed:
                    return cred
            raise NoCredentialError("none of allowCredentials is on this authenticator")
        for cred in reversed(self.credentials):
            if cred.rp_id == rp_id:
                return cred
        raise NoCredentialError(f"no discoverable credential for {rp_id!r}")

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: SoftCredential | None = None,
        user_present: bool = True,
        user_verified: bool = True,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        bad_signature: bool = False,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): options JSON in, AuthenticationResponseJSON out."""
        origin = origin or self.origin
        requested_rp_id = options.get("rpId") or self._origin_host(origin)
        cred = credential or self._choose(options, requested_rp_id)
        if sign_count is None:
            if self.counter:
                cred.sign_count += 1
            sign_count = cred.sign_count

        flags = _flags(
            up=user_present, uv=user_verified, be=cred.backup_eligible, bs=cred.backed_up
        )
        auth_data = (
            hashlib.sha256((rp_id or requested_rp_id).encode()).digest()
            + bytes([flags])
            + sign_count.to_bytes(4, "big")
        )
        client_data = _client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = _sign(cred, auth_data + hashlib.sha256(client_data).digest())
        if bad_signature:
            # The last byte is inside the value (DER's s, RSA's block): parses, won't verify.
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {
            "id": cred.id_b64,
            "rawId": cred.id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(cred.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
