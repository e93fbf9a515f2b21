"""`smmbot` command line: run (the bot), check (configuration), demo, sandbox and chat (offline)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.config import ConfigError, load_settings


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


def _demo(args: argparse.Namespace) -> int:
    from bot.demo.terminal import run_demo

    return run_demo(args)


def _sandbox(args: argparse.Namespace) -> int:
    from bot.demo.terminal import run_sandbox

    return run_sandbox(args)


def _chat(args: argparse.Namespace) -> int:
    from bot.demo.terminal import run_chat

    return run_chat(args)


def build_parser() -> argparse.ArgumentParser:
    from bot.check import add_check_arguments
    from bot.demo.terminal import add_chat_arguments, add_demo_arguments, add_sandbox_arguments

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
    demo = commands.add_parser(
        "demo",
        help="chat with the shop in this terminal, fully offline (no token, no panel, no .env needed)",
        description="Start a panel simulator, a local Bot API server and the bot on a throw-away "
        "database, then chat with the bot in this terminal. Ignores .env and the environment.",
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=_demo)
    sandbox = commands.add_parser(
        "sandbox",
        help="start only the panel simulator and the local Bot API server, for a separate `smmbot run`",
        description="Start the panel simulator and the fake Bot API server and print the settings "
        "a bot needs to use them. Ctrl-C stops.",
    )
    add_sandbox_arguments(sandbox)
    sandbox.set_defaults(handler=_sandbox)
    chat = commands.add_parser(
        "chat",
        help="chat in this terminal as a user of a running `smmbot sandbox`",
        description="The terminal chat of `smmbot demo`, against a running `smmbot sandbox`.",
    )
    add_chat_arguments(chat)
    chat.set_defaults(handler=_chat)
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
