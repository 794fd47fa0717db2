"""The password policy: the user's rule, then a common-password list and the email."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from authapi import errors
from authapi.security import normalize_password

MIN_LENGTH = 8
MAX_LENGTH = 128


@cache
def common_passwords() -> frozenset[str]:
    """Django's common-password list (19,640 distinct entries), lower-cased, loaded once."""
    data = resources.files("authapi").joinpath("data/common-passwords.txt.gz").read_bytes()
    lines = gzip.decompress(data).decode().splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problems(password: str, email: str, field: str = "password") -> list[dict[str, str]]:
    """Every rule the password breaks, each as its own `{field, message, code}`,
    named after the request's `field`."""
    password = normalize_password(password)
    problems: list[dict[str, str]] = []

    def fail(code: str, message: str) -> None:
        problems.append({"field": field, "message": message, "code": code})

    if len(password) < MIN_LENGTH:
        fail("too_short", f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        fail("too_long", f"Use at most {MAX_LENGTH} characters.")
    if not any(ch.isupper() for ch in password):
        fail("missing_uppercase", "Include an upper-case letter.")
    if not any(ch.islower() for ch in password):
        fail("missing_lowercase", "Include a lower-case letter.")
    if not any(ch.isdigit() for ch in password):
        fail("missing_digit", "Include a digit.")
    if password.lower() in common_passwords():
        fail("common_password", "This password is too common; choose another.")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        fail("contains_email", "Do not include your email address in the password.")
    return problems


def require_strong(password: str, email: str, field: str = "password") -> None:
    """422 weak_password naming every rule the password breaks."""
    problems = password_problems(password, email, field)
    if problems:
        raise errors.WeakPassword(errors=problems)
