"""The offline commands `smmbot demo`, `smmbot sandbox` and `smmbot chat`.

Registered through the `smmbot.commands` entry-point group (pyproject.toml), so `bot/cli.py` lists
them without importing this package: the bot never depends on its tools.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _demo(args: argparse.Namespace) -> int:
    from sandbox.demo.terminal import run_demo

    return run_demo(args)


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.demo.terminal import run_sandbox

    return run_sandbox(args)


def _chat(args: argparse.Namespace) -> int:
    from sandbox.demo.terminal import run_chat

    return run_chat(args)


def register(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add demo, sandbox and chat to the `smmbot` command line."""
    from sandbox.demo.terminal import add_chat_arguments, add_demo_arguments, add_sandbox_arguments

    demo = add_command(
        "demo",
        help="chat with the shop in this terminal, fully offline (no token, no panel, no .env needed)",
        description="Start a panel simulator, a local Bot API server and the bot on a throw-away "
        "database, then chat with the bot in this terminal. Ignores .env and the environment.",
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=_demo)
    sandbox = add_command(
        "sandbox",
        help="start only the panel simulator and the local Bot API server, for a separate `smmbot run`",
        description="Start the panel simulator and the fake Bot API server and print the settings "
        "a bot needs to use them. Ctrl-C stops.",
    )
    add_sandbox_arguments(sandbox)
    sandbox.set_defaults(handler=_sandbox)
    chat = add_command(
        "chat",
        help="chat in this terminal as a user of a running `smmbot sandbox`",
        description="The terminal chat of `smmbot demo`, against a running `smmbot sandbox`.",
    )
    add_chat_arguments(chat)
    chat.set_defaults(handler=_chat)
