"""Signing keys: which key signs new tokens, which keys still verify old ones, and
the public half as a JWK Set.

A token names its key in the `kid` header. The verifier picks the key by `kid` from
the configured set and takes the algorithm from that key, never from the token's
header, so a token cannot choose HS256 with a public key as its secret, or `none`.
Tokens issued before `kid` existed carry none; they are checked against the HS
secrets of the set (the current one and the retired ones), which signed them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk

HS_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MIN_RSA_BITS = 2048
_PATH_STARTS = ("/", "./", "../", "~/")


class KeyConfigError(ValueError):
    """A key setting cannot be used; the message names the setting, never the key."""


@dataclass(frozen=True, slots=True)
class Key:
    kid: str
    algorithm: str
    verify_with: str  # the HS secret, or the public key in PEM
    sign_with: str | None = None  # the HS secret, or the private key in PEM
    public_jwk: Mapping[str, str] | None = None  # None for HS: nothing public


@dataclass(frozen=True, slots=True)
class KeySet:
    current: Key
    retired: tuple[Key, ...] = ()
    _by_kid: dict[str, Key] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = {key.kid: key for key in (*self.retired, self.current)}
        object.__setattr__(self, "_by_kid", keys)

    def find(self, kid: str) -> Key | None:
        return self._by_kid.get(kid)

    def without_kid(self) -> list[Key]:
        """The keys a token without `kid` may be checked with: the HS secrets."""
        return [key for key in (self.current, *self.retired) if key.algorithm in HS_ALGORITHMS]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {
            "keys": [
                dict(key.public_jwk)
                for key in (self.current, *self.retired)
                if key.public_jwk is not None
            ]
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs_key(secret: str, algorithm: str) -> Key:
    # A digest names the secret without revealing it (it is 32+ random bytes).
    kid = "hs-" + _b64(hashlib.sha256(b"authapi kid " + secret.encode()).digest())[:16]
    return Key(kid=kid, algorithm=algorithm, verify_with=secret, sign_with=secret)


def thumbprint(public_jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint: a `kid` that any holder of the public key can recompute."""
    members = ("e", "kty", "n") if public_jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: public_jwk[name] for name in members}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def pem_key(data: bytes, setting: str) -> Key:
    """A key pair (private PEM: can sign) or a public key (PEM: verifies only)."""
    private: Any = None
    try:
        private = serialization.load_pem_private_key(data, password=None)
        public: Any = private.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            public = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise KeyConfigError(
                f"{setting}: not an unencrypted PEM private or public key"
            ) from None
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise KeyConfigError(f"{setting}: RSA keys must have at least {MIN_RSA_BITS} bits")
        algorithm = "RS256"
    elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        algorithm = "ES256"
    else:
        raise KeyConfigError(f"{setting}: use an RSA (RS256) or P-256 (ES256) key")
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    public_jwk = {
        name: str(value) for name, value in jwk.construct(public_pem, algorithm).to_dict().items()
    }
    kid = thumbprint(public_jwk)
    public_jwk.update(kid=kid, alg=algorithm, use="sig")
    private_pem = None
    if private is not None:
        private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    return Key(
        kid=kid,
        algorithm=algorithm,
        verify_with=public_pem,
        sign_with=private_pem,
        public_jwk=public_jwk,
    )


def read_pem_key(path: str | Path, setting: str) -> Key:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyConfigError(f"{setting}: cannot read the key file ({exc.strerror})") from None
    return pem_key(data, setting)


def build_key_set(
    algorithm: str,
    secret: str,
    private_key_file: str | Path | None,
    previous: Iterable[str],
) -> KeySet:
    """The key set of the settings. `previous` holds PEM files (names ending in
    `.pem`) of retired key pairs or public keys, and retired HS secrets."""
    if algorithm in HS_ALGORITHMS:
        current = hs_key(secret, algorithm)
    else:
        if private_key_file is None:
            raise KeyConfigError(f"JWT_PRIVATE_KEY_FILE: required with JWT_ALGORITHM={algorithm}")
        current = read_pem_key(private_key_file, "JWT_PRIVATE_KEY_FILE")
        if current.sign_with is None:
            raise KeyConfigError("JWT_PRIVATE_KEY_FILE: a public key cannot sign; give the pair")
        if current.algorithm != algorithm:
            raise KeyConfigError(
                f"JWT_PRIVATE_KEY_FILE: the key is for {current.algorithm}, "
                f"not JWT_ALGORITHM={algorithm}"
            )
    retired = []
    for index, entry in enumerate(previous, start=1):
        where = f"JWT_PREVIOUS_KEYS (entry {index})"
        if entry.lower().endswith(".pem"):
            retired.append(read_pem_key(entry, where))
        elif "-----BEGIN" in entry or entry.startswith(_PATH_STARTS) or Path(entry).exists():
            # A key file under another name, or a pasted PEM, must never become an
            # HMAC secret that anyone who can read the file could sign with.
            raise KeyConfigError(f"{where}: name key files *.pem; a secret is not a path or PEM")
        else:
            if len(entry.encode()) < 32:
                raise KeyConfigError(f"{where}: a retired secret has at least 32 bytes")
            retired.append(
                hs_key(entry, algorithm if algorithm in HS_ALGORITHMS else HS_ALGORITHMS[0])
            )
    return KeySet(current=current, retired=tuple(key for key in retired if key.kid != current.kid))


def generate_pem(algorithm: str) -> bytes:
    """A new private key in PEM (PKCS#8), for `python -m authapi keys generate`."""
    private: Any
    if algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise KeyConfigError(f"cannot generate a key for {algorithm}; use ES256 or RS256")
    return bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
