"""TOTP (RFC 6238 through pyotp), the secret's encryption at rest, recovery codes.
Pure: no FastAPI, no database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken

# RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30-second steps.
DIGITS = 6
STEP_SECONDS = 30
# One step of drift either way (a phone clock a little off, a code typed late).
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
RECOVERY_CODE_COUNT = 10
# 16 base32 characters: 80 random bits, so SHA-256 (unsalted, fast) is safe to store.
RECOVERY_CODE_CHARS = 16
RECOVERY_GROUP = 4
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


class SecretUnreadable(Exception):
    """The stored secret does not decrypt with MFA_ENCRYPTION_KEY (a changed key)."""


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) under MFA_ENCRYPTION_KEY: a database dump
    alone does not give anyone the codes of a user's authenticator."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode("ascii"))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("ascii")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretUnreadable from None


def new_secret() -> str:
    """A base32 secret of 160 random bits, as authenticator apps take it."""
    return pyotp.random_base32(length=32)


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """The provisioning URI an authenticator app reads (from a QR code or as text)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is, within the allowed drift, or None.

    pyotp's `verify(valid_window=1)` says only yes or no; knowing the step lets the
    caller refuse the same code (and any older one) for the rest of its window.
    """
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time, whatever matched before.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten codes such as `k3mq-7vxa-2bnd-p4rt`, shown to the user once."""
    return [
        _group("".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_CHARS)))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def _group(raw: str) -> str:
    return "-".join(raw[i : i + RECOVERY_GROUP] for i in range(0, len(raw), RECOVERY_GROUP))


def normalize_recovery_code(code: str) -> str:
    """What the user typed, without the separators and case that do not matter."""
    return code.replace("-", "").replace(" ", "").lower()


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()


def is_totp_code(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()
