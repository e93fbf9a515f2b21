"""`smmbot` command line: run (the bot), check (configuration), demo, sandbox and chat (offline)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from bot.config import ConfigError, load_settings

PLUGIN_GROUP = "smmbot.commands"


def _run(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from bot.logging_setup import setup_logging
    from bot.startup import PREFIX, database_path_problem, describe_failure
    from bot.webhook import run, webhook_secret

    settings = load_settings()
    values = [getattr(settings, name) for name in type(settings).model_fields]
    secrets = [value.get_secret_value() for value in values if isinstance(value, SecretStr)]
    setup_logging(settings.log_level, secrets=[*secrets, webhook_secret(settings)])
    problem = database_path_problem(settings)
    if problem is not None:
        print(PREFIX + problem, file=sys.stderr)
        return 1
    try:
        # Long polling; webhook mode with --webhook or WEBHOOK_URL set (bot/webhook.py).
        asyncio.run(run(settings, webhook=getattr(args, "webhook", False)))
    except KeyboardInterrupt:
        pass
    except ConfigError:
        raise
    except Exception as error:  # one line instead of a traceback (kept at DEBUG)
        logging.getLogger("bot").debug("start-up failure", exc_info=True)
        print(describe_failure(error, settings), file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from bot.check import check_command

    return check_command(args)


def add_plugin_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Commands other installed packages add (the offline `sandbox` package adds demo, sandbox and
    chat) through the `smmbot.commands` entry-point group, so the bot never imports its tools."""
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            register = entry.load()
        except ImportError:  # declared but not shipped (e.g. the Docker image carries the bot only)
            continue
        register(add_command)


def build_parser() -> argparse.ArgumentParser:
    from bot.check import add_check_arguments

    parser = argparse.ArgumentParser(
        prog="smmbot",
        description="SMM Storefront: a Telegram shop for an SMM panel. Without a command: run.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the bot with settings from the environment / .env (long polling, or a webhook "
        "when WEBHOOK_URL is set)",
    )
    run.add_argument(
        "--webhook", action="store_true", help="serve a webhook (needs WEBHOOK_URL) instead of polling"
    )
    run.set_defaults(handler=_run)
    check = commands.add_parser(
        "check",
        help="check the settings, database, panel and Telegram; exit 1 on any problem",
        description="Check the configuration the way `smmbot run` would load it; one line per problem.",
    )
    add_check_arguments(check)
    check.set_defaults(handler=_check)
    add_plugin_commands(commands.add_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", _run)
    try:
        return int(handler(args))
    except ConfigError as error:  # exit status 1, like every other start-up problem (README)
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
