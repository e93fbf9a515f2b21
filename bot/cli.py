"""`smmbot` command line: run (the bot), check (configuration), demo and sandbox (offline)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.config import ConfigError, load_settings


def _run(args: argparse.Namespace) -> int:
    from bot.app import run_polling
    from bot.logging_setup import setup_logging

    settings = load_settings()
    setup_logging(
        settings.log_level,
        secrets=[settings.bot_token.get_secret_value(), settings.panel_api_key.get_secret_value()],
    )
    try:
        asyncio.run(run_polling(settings))
    except KeyboardInterrupt:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smmbot", description="SMM Storefront: a Telegram shop for an SMM panel."
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser(
        "run", help="run the bot (long polling) with settings from the environment / .env"
    )
    run.set_defaults(handler=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", _run)
    try:
        return int(handler(args))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
