"""`python -m authapi users ...`: list, show, create, set-role, disable, enable,
revoke-sessions, mfa-reset, delete.

Each command is one transaction, committed when it succeeds. Failures the operator
can act on (an unknown email, a weak password, an unreachable database) print one
line per problem on stderr and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from authapi import errors
from authapi.cli import user_input
from authapi.config import Settings
from authapi.container import Container
from authapi.models.user import UserRole
from authapi.services.admin import SHELL_ACTOR, AdminService
from authapi.unit_of_work import UnitOfWork

Handler = Callable[[AdminService, UnitOfWork, argparse.Namespace], None]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="administer user accounts")
    actions = users.add_subparsers(dest="users_command", required=True)

    listing = actions.add_parser("list", help="users, newest first")
    listing.add_argument(
        "--limit", type=user_input.positive, default=50, help="at most N rows (50)"
    )
    listing.add_argument("--email-contains", metavar="TEXT", help="only emails containing TEXT")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one user's fields and active sessions")
    show.add_argument("email")
    show.set_defaults(handler=_show)

    create = actions.add_parser("create", help="create a user (the password comes from stdin)")
    create.add_argument("email")
    create.add_argument("--name")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else prompt on a terminal)",
    )
    create.add_argument(
        "--verified", action="store_true", help="mark the email as verified (no mail is sent)"
    )
    create.set_defaults(handler=_create)

    set_role = actions.add_parser("set-role", help="make a user an admin, or a plain user again")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=[role.value for role in UserRole])
    set_role.set_defaults(handler=_set_role)

    for name, handler, text in [
        ("disable", _disable, "disable a user and revoke every session"),
        ("enable", _enable, "enable a disabled user"),
        ("revoke-sessions", _revoke_sessions, "log a user out everywhere"),
        ("mfa-reset", _mfa_reset, "turn off every second factor of a user"),
    ]:
        action = actions.add_parser(name, help=text)
        action.add_argument("email")
        action.set_defaults(handler=handler)

    delete = actions.add_parser("delete", help="delete a user (audit rows stay, email erased)")
    delete.add_argument("email")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")
    delete.set_defaults(handler=_delete)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen command in one transaction; the exit status."""
    handler: Handler = args.handler
    container = Container(settings)
    try:
        with container.unit_of_work() as uow:
            handler(container.admin, uow, args)
    except user_input.InputError as exc:
        return _fail(str(exc))
    except errors.WeakPassword as exc:
        return _fail("the password breaks the password rules:", *_problems(exc))
    except errors.AppError as exc:
        return _fail(exc.detail_text)
    except SQLAlchemyError as exc:
        return _fail(f"database error: {_first_line(exc)}")
    finally:
        container.close()
    return 0


# -- commands ---------------------------------------------------------------------


def _list(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    contains = user_input.lookup(args.email_contains) if args.email_contains else None
    rows = [
        [
            user.email,
            str(user.id),
            _yes_no(user.is_active),
            _yes_no(user.email_verified_at is not None),
            _when(user.created_at),
            _when(user.last_login_at),
        ]
        for user in service.list_users(uow, args.limit, contains)
    ]
    _table(["email", "id", "active", "verified", "created", "last login"], rows)


def _show(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    detail = service.show_user(uow, service.find(uow, user_input.lookup(args.email)))
    user = detail.user
    fields = [
        ("email", user.email),
        ("id", str(user.id)),
        ("name", user.name or "-"),
        ("role", user.role),
        ("active", _yes_no(user.is_active)),
        *((("disabled until", _when(user.disabled_until)),) if user.disabled_until else ()),
        *((("disabled for", user.disabled_reason),) if user.disabled_reason else ()),
        ("email verified", _when(user.email_verified_at)),
        ("password", "set" if user.has_password else "none (provider sign-in only)"),
        ("second factor", "on" if user.mfa_enabled else "off"),
        ("passkeys", str(user.passkey_count)),
        ("created", _when(user.created_at)),
        ("last login", _when(user.last_login_at)),
        ("active sessions", str(detail.active_sessions)),
        *(
            ("linked", f"{identity.provider} ({identity.email or 'no email'})")
            for identity in detail.identities
        ),
        *(
            (
                "passkey",
                f"{passkey.name} (added {_when(passkey.created_at)}, "
                f"last used {_when(passkey.last_used_at)})",
            )
            for passkey in detail.passkeys
        ),
        *(("org", f"{org.name} ({org.slug}), {role}") for org, role in detail.orgs),
    ]
    for label, value in fields:
        print(f"{label + ':':<17}{value}")


def _create(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.email(args.email)
    name = user_input.name(args.name)
    password = user_input.read_password(from_stdin=args.password_stdin)
    user = service.create_user(uow, SHELL_ACTOR, email, password, name, verified=args.verified)
    print(f"created {user.email} ({user.id})")


def _set_role(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.lookup(args.email)
    service.set_role(uow, SHELL_ACTOR, service.find(uow, email), args.role)
    print(f"{email} is now {'an admin' if args.role == UserRole.ADMIN else 'a plain user'}")


def _disable(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.lookup(args.email)
    revoked = service.disable_user(uow, SHELL_ACTOR, service.find(uow, email))
    print(f"disabled {email}; {revoked} session(s) revoked")


def _enable(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.lookup(args.email)
    service.enable_user(uow, SHELL_ACTOR, service.find(uow, email))
    print(f"enabled {email}")


def _revoke_sessions(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.lookup(args.email)
    revoked = service.revoke_sessions(uow, SHELL_ACTOR, service.find(uow, email))
    print(f"revoked {revoked} session(s) of {email}")


def _mfa_reset(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    email = user_input.lookup(args.email)
    service.reset_mfa(uow, SHELL_ACTOR, service.find(uow, email))
    print(f"second factor of {email} turned off; the next login needs only the password")


def _delete(service: AdminService, uow: UnitOfWork, args: argparse.Namespace) -> None:
    if not args.yes:
        raise user_input.InputError(
            f"deleting {args.email.strip()} cannot be undone; add --yes to confirm"
        )
    email = user_input.lookup(args.email)
    service.delete_user(uow, SHELL_ACTOR, service.find(uow, email))
    print(f"deleted {email}")


# -- output -----------------------------------------------------------------------


def _fail(*lines: str) -> int:
    print(f"authapi: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)
    return 1


def _problems(error: errors.AppError) -> list[str]:
    return [f"{problem['code']}: {problem['message']}" for problem in error.errors or []]


def _first_line(exc: SQLAlchemyError) -> str:
    """The driver's message without the statement (parameters are hidden anyway)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
