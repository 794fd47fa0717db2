"""`python -m authapi serve | migrate | check-config | prune | keys generate | users ...`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from authapi.cli import prune as prune_cli
from authapi.cli import users as users_cli
from authapi.config import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def load_settings(*, read_keys: bool = True) -> Settings:
    """Settings, or a readable refusal that never echoes a value (it may be a secret).
    `read_keys=False` is for commands that sign nothing (and so need not import the app)."""
    from authapi.keys import KeyConfigError

    try:
        settings = get_settings()
        if read_keys:
            from authapi.container import signing_keys

            signing_keys(settings)  # key files are read now, not at the first login
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        sys.exit("authapi: invalid configuration:\n" + "\n".join(lines))
    except KeyConfigError as exc:
        sys.exit(f"authapi: invalid configuration:\n  {exc}")
    return settings


def generate_key(algorithm: str, out: Path) -> None:
    """Write a new private key, readable by its owner only; never overwrite one."""
    from authapi.keys import generate_pem

    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(generate_pem(algorithm))
    except FileExistsError:
        sys.exit(f"authapi: {out} exists; choose another file (keys are never overwritten)")
    print(f"wrote a new {algorithm} private key to {out}")


def migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "backend" / "alembic"))
    command.upgrade(config, "head")


def create_served_app() -> FastAPI:
    """The factory uvicorn calls in each worker process: with WORKERS > 1 the workers
    are fresh processes, and the logging set up in the parent does not reach them."""
    from authapi.log import configure_logging
    from authapi.main import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def serve(settings: Settings) -> None:
    from authapi import serving
    from authapi.log import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    serving.serve(settings.host, settings.port, settings.workers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="authapi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (HOST, PORT, WORKERS)")
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("check-config", help="validate the settings and key files")
    prune_cli.add_parser(commands)
    keys = commands.add_parser("keys", help="signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = key_commands.add_parser("generate", help="write a new private key (PEM)")
    generate.add_argument("--algorithm", choices=["ES256", "RS256"], default="ES256")
    generate.add_argument("--out", type=Path, required=True, help="the file to create")
    users_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "keys":
        generate_key(args.algorithm, args.out)  # needs no settings
        return
    if args.command == "users":
        sys.exit(users_cli.run(args, load_settings(read_keys=False)))
    if args.command == "prune":
        sys.exit(prune_cli.run(load_settings(read_keys=False)))
    settings = load_settings()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "serve":
        serve(settings)
    else:
        print(f"configuration ok: database {settings.database_url.split('://', 1)[0]}")


if __name__ == "__main__":
    main()
