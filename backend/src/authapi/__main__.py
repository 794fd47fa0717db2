"""`python -m authapi serve | migrate | check-config`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from authapi.config import Settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def load_settings() -> Settings:
    """Settings, or a readable refusal that never echoes a value (it may be a secret)."""
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        sys.exit("authapi: invalid configuration:\n" + "\n".join(lines))


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
    configure_logging(settings.log_level)
    return create_app(settings)


def serve(settings: Settings) -> None:
    from authapi import serving
    from authapi.log import configure_logging

    configure_logging(settings.log_level)
    serving.serve(settings.host, settings.port, settings.workers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="authapi", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate", "check-config"])
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "serve":
        serve(settings)
    else:
        print(f"configuration ok: database {settings.database_url.split('://', 1)[0]}")


if __name__ == "__main__":
    main()
