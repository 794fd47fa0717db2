"""The operator's input to `users` commands, checked as the API checks a client's:
the same email normalisers, lengths and control-character rules."""

from __future__ import annotations

import argparse
import getpass
import sys

from authapi.models.user import EMAIL_MAX_LENGTH
from authapi.schemas.auth import PASSWORD_INPUT_MAX
from authapi.schemas.common import (
    no_control_characters,
    normalize_email,
    normalize_login_email,
)

NAME_MAX_LENGTH = 100


class InputError(Exception):
    """An argument the command refuses before touching the database."""


def email(value: str) -> str:
    """The address as signup would store it, or a refusal."""
    try:
        email = normalize_email(value)
    except ValueError as exc:
        raise InputError(f"invalid email: {exc}") from None
    if len(email) > EMAIL_MAX_LENGTH:
        raise InputError(f"invalid email: at most {EMAIL_MAX_LENGTH} characters")
    return email


def lookup(value: str) -> str:
    """The address in the form signup stores, to find an account by (as login does:
    one that could never have signed up is refused only for control characters, and
    otherwise simply not found)."""
    try:
        return normalize_login_email(value)
    except ValueError as exc:
        raise InputError(f"invalid email: {exc}") from None


def name(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        no_control_characters(value)
    except ValueError as exc:
        raise InputError(f"invalid name: {exc}") from None
    value = value.strip()
    if len(value) > NAME_MAX_LENGTH:
        raise InputError(f"invalid name: at most {NAME_MAX_LENGTH} characters")
    return value or None


def read_password(*, from_stdin: bool) -> str:
    """From stdin (never from an argument: it would land in the shell history and
    in `ps`), or typed twice at a terminal prompt."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise InputError("the passwords do not match")
    else:
        raise InputError("no terminal to prompt for the password; use --password-stdin")
    if not password:
        raise InputError("the password is empty")
    if len(password) > PASSWORD_INPUT_MAX:
        raise InputError(f"the password is longer than {PASSWORD_INPUT_MAX} characters")
    try:
        no_control_characters(password)
    except ValueError as exc:
        raise InputError(f"invalid password: {exc}") from None
    return password


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number
