"""Terminal front ends: `smmbot demo`, `smmbot chat` and `smmbot sandbox`.

Reading stdin: on a terminal, a daemon thread runs `input()` (with readline: line editing and
history) and hands lines to the event loop; bot messages that arrive while the user types are
printed above the prompt, and the half-typed line is drawn again. From a pipe or file, lines are
read with asyncio. Ctrl-C / SIGTERM / Ctrl-D / `/quit` all end the same way: the chat stops, the
bot and servers shut down, the temporary directory is removed, exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sandbox.demo.chat import INPUT_RULES, ChatSession
from sandbox.demo.defaults import (
    DEMO_PANEL_KEY,
    DEMO_TICK_SECONDS,
    DEMO_TOKEN,
    DEMO_USER_ID,
    SANDBOX_CRYPTOPAY_PORT,
    SANDBOX_PANEL_PORT,
    SANDBOX_TELEGRAM_PORT,
)
from sandbox.demo.render import Theme, ansi_theme, plain_theme, strip_ansi

if TYPE_CHECKING:
    from sandbox.demo.environment import SandboxServers

__all__ = ["Console", "run_chat", "run_demo", "run_sandbox"]

PROMPT = "you: "
MORE_PROMPT = "...: "  # the line goes on a multi-line message (a trailing backslash, a """ block)


def choose_theme(stream: TextIO, no_color: bool = False) -> Theme:
    """ANSI styles on a terminal, plain text otherwise (and with NO_COLOR or --no-color)."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return plain_theme()
    return ansi_theme() if stream.isatty() else plain_theme()


class Console:
    """Prints blocks above the prompt without garbling what the user is typing."""

    def __init__(self, stream: TextIO, *, interactive: bool, theme: Theme) -> None:
        self.stream = stream
        self.interactive = interactive
        self.theme = theme
        self.prompt = PROMPT if interactive else ""
        self._lock = threading.Lock()
        self._prompt_visible = False
        self.readline: Any = None  # the readline module once a terminal reader loaded it

    def set_prompt_visible(self, visible: bool) -> None:
        with self._lock:
            self._prompt_visible = visible

    def write(self, text: str) -> None:
        if strip_ansi(text).startswith("bot"):
            text = "\n" + text  # a blank line before each bot message
        with self._lock:
            if self.interactive and self._prompt_visible:
                typed = self.readline.get_line_buffer() if self.readline is not None else ""
                self.stream.write(f"\r\x1b[2K{text}\n{self.prompt}{typed}")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def end_line(self) -> None:
        """Leave the prompt line (after Ctrl-C the cursor sits behind it)."""
        with self._lock:
            if self.interactive and self._prompt_visible:
                self.stream.write("\n")
                self._prompt_visible = False
            self.stream.flush()


class _ConsoleLogHandler(logging.Handler):
    """`--verbose`: log records go over the chat, dimmed, without breaking the prompt."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.write(self.console.theme.style(self.format(record), "notice"))
        except Exception:  # pragma: no cover - never let logging break the chat
            self.handleError(record)


def configure_logging(
    log_file: Path | None,
    console: Console | None,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> None:
    """Log to ``log_file`` / the console / ``stream``: never raw stderr over a chat."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    if console is not None:
        handlers.append(_ConsoleLogHandler(console))
    if stream is not None:
        handlers.append(logging.StreamHandler(stream))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = handlers or [logging.NullHandler()]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.captureWarnings(True)


# -- reading lines ---------------------------------------------------------------------------------
class _LineSource:
    async def get(self) -> str | None:  # None = end of input
        raise NotImplementedError

    def done(self, *, more: bool = False) -> None:
        """The last line was handled (a terminal shows the next prompt now); `more`: the next
        line goes on the same message."""

    def close(self) -> None:
        """Stop reading."""


class _TerminalLines(_LineSource):
    """`input()` in a daemon thread: readline editing; never blocks the loop or the exit."""

    def __init__(self, console: Console) -> None:
        try:  # line editing and history for input(); absent on some platforms
            import readline

            console.readline = readline
        except ImportError:  # pragma: no cover
            pass
        self.console = console
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._handled = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._run, name="demo-input", daemon=True).start()

    def _run(self) -> None:
        while not self._closed.is_set():
            self.console.set_prompt_visible(True)
            try:
                line: str | None = input(self.console.prompt)
            except (EOFError, OSError, ValueError):
                line = None
                self.console.set_prompt_visible(True)
                self.console.end_line()  # Ctrl-D leaves the cursor behind the prompt
            finally:
                self.console.set_prompt_visible(False)
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, line)
            except RuntimeError:  # the loop is gone
                return
            if line is None:
                return
            self._handled.wait()
            self._handled.clear()

    async def get(self) -> str | None:
        return await self.queue.get()

    def done(self, *, more: bool = False) -> None:
        self.console.prompt = MORE_PROMPT if more else PROMPT
        self._handled.set()

    def close(self) -> None:
        self._closed.set()
        self._handled.set()


class _PipeLines(_LineSource):
    """Lines from a pipe or socket, read by the event loop."""

    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self.reader = reader
        self.transport = transport

    @classmethod
    async def open(cls, stream: TextIO) -> _PipeLines:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(os.dup(stream.fileno()), "rb", buffering=0)
        try:
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        except BaseException:
            pipe.close()
            raise
        return cls(reader, transport)

    async def get(self) -> str | None:
        line = await self.reader.readline()
        return line.decode("utf-8", errors="replace") if line else None

    def close(self) -> None:
        self.transport.close()


class _FileLines(_LineSource):
    """Lines from a regular file (``< script.txt``): reading never blocks."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    async def get(self) -> str | None:
        line = self.stream.readline()
        return line or None


async def open_lines(stream: TextIO, console: Console) -> _LineSource:
    if console.interactive:
        return _TerminalLines(console)
    try:
        return await _PipeLines.open(stream)
    except (ValueError, OSError):  # a regular file cannot be watched by the loop
        return _FileLines(stream)


@contextlib.contextmanager
def _terminal_state(stream: TextIO) -> Iterator[None]:
    """Give the terminal back as we found it, even if readline was interrupted mid-line."""
    saved: Any = None
    try:
        import termios

        if stream.isatty():
            saved = termios.tcgetattr(stream.fileno())
    except Exception:  # no termios (Windows), not a terminal, closed stream
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            with contextlib.suppress(Exception):
                termios.tcsetattr(stream.fileno(), termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``; a second Ctrl-C interrupts the shutdown itself."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def first(signum: signal.Signals) -> None:
        stop.set()
        if signum == signal.SIGINT:
            loop.remove_signal_handler(signum)  # back to KeyboardInterrupt for a second Ctrl-C

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, first, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


async def chat_loop(
    session: ChatSession, lines: _LineSource, stop: asyncio.Event, *, scripted: bool = False
) -> None:
    """Feed typed lines to the session until /quit, end of input or a stop signal.

    ``scripted`` (lines from a pipe or file): wait for the bot's answer before the next line.
    """
    stopped = asyncio.create_task(stop.wait())
    try:
        while not session.quit_requested and not stop.is_set():
            getting = asyncio.create_task(lines.get())
            await asyncio.wait({getting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                break
            line = getting.result()
            if line is None:  # Ctrl-D / end of a piped script: show the last answers, then leave
                await session.settle()
                break
            try:
                await session.handle_input(line)
                if scripted and not session.quit_requested and not session.collecting:
                    await session.wait_for_reply()
            finally:
                lines.done(more=session.collecting)
    finally:
        stopped.cancel()
        lines.close()


def banner(title: str, details: list[str], theme: Theme) -> str:
    width = max(len(rule) for rule, _ in INPUT_RULES)
    rules = [f"  {theme.style(rule.ljust(width), 'button')}  {text}" for rule, text in INPUT_RULES]
    return "\n".join([theme.style(title, "bold"), *(f"  {line}" for line in details), "How to chat:", *rules])


# -- smmbot demo -----------------------------------------------------------------------------------
def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return number


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as-admin", action="store_true", help="give the demo user admin rights")
    parser.add_argument("--verbose", action="store_true", help="show the bot's logs in the chat")
    parser.add_argument("--no-color", action="store_true", help="plain text, no terminal styles")
    parser.add_argument("--lang", default="en", help="the demo user's Telegram language (en, ru)")
    parser.add_argument("--name", default="Demo", help="the demo user's first name")
    parser.add_argument(
        "--tick-seconds",
        type=_positive,
        default=DEMO_TICK_SECONDS,
        help="seconds between order progress steps in the panel simulator (default 5)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary database and log, print where they are"
    )


def run_demo(args: argparse.Namespace) -> int:
    return _run_async(lambda: _demo(args))


async def _demo(args: argparse.Namespace) -> int:
    stdin, stdout = sys.stdin, sys.stdout
    theme = choose_theme(stdout, args.no_color)
    console = Console(stdout, interactive=stdin.isatty() and stdout.isatty(), theme=theme)
    workdir = Path(tempfile.mkdtemp(prefix="smmbot-demo-"))
    log_file = workdir / "demo.log"
    configure_logging(log_file, console if args.verbose else None)
    console.write(
        theme.style("Starting the offline demo (panel simulator, local Bot API server, bot)…", "notice")
    )
    keep, code = args.keep, 0
    try:
        with _terminal_state(stdin):
            await _demo_chat(args, console, workdir, log_file)
    except Exception as error:  # one clear line on the terminal, the traceback in the kept log
        logging.getLogger(__name__).exception("the demo failed")
        console.end_line()
        console.write(theme.style(f"The demo stopped: {type(error).__name__}: {error}", "error"))
        keep, code = True, 1
    finally:
        logging.getLogger().handlers[:] = [logging.NullHandler()]
        if keep:
            console.write(f"The demo database and log are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if code == 0:
        console.write(theme.style("Demo stopped. Bye!", "notice"))
    return code


async def _demo_chat(args: argparse.Namespace, console: Console, workdir: Path, log_file: Path) -> None:
    from sandbox.demo.environment import demo_environment

    theme = console.theme
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        async with demo_environment(
            as_admin=args.as_admin,
            first_name=args.name,
            language_code=args.lang,
            tick_seconds=args.tick_seconds,
            workdir=workdir,
        ) as env:
            if stop.is_set():  # Ctrl-C while starting
                return
            role = ", an admin" if env.is_admin else ""
            details = [
                f"You are {env.user.first_name} (Telegram id {env.user.id}{role}) with a balance of "
                f"{env.balance:.2f} {env.settings.currency}.",
                f"Panel: a simulator with {len(env.panel.state.catalog)} services; orders move one "
                f"step every {args.tick_seconds:g}s, so you hear back within a minute.",
                "Top up with /topup: Telegram Stars and Crypto Pay are paid right here (simulated); a "
                "manual receipt goes to the admins (approve it yourself with --as-admin).",
                "Nothing leaves this machine; the database is thrown away at exit.",
                f"Photos and files the bot sends (the admins' /chart) are saved in {workdir / 'media'} "
                "(deleted at exit unless --keep).",
                f"Logs: {log_file}" if not args.verbose else "Logs: shown in the chat (--verbose).",
            ]
            console.write(banner("SMM Storefront — offline demo", details, theme))
            async with ChatSession(
                env.telegram.base_url,
                env.user.id,
                output=console.write,
                theme=theme,
                first_name=env.user.first_name,
                language_code=args.lang,
                media_dir=workdir / "media",
            ) as session:
                lines = await open_lines(sys.stdin, console)
                await chat_loop(session, lines, stop, scripted=not console.interactive)
            console.end_line()
            console.write(theme.style("Stopping…", "notice"))


# -- smmbot chat -----------------------------------------------------------------------------------
def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--telegram-url",
        default=f"http://127.0.0.1:{SANDBOX_TELEGRAM_PORT}",
        help="the fake Bot API server of `smmbot sandbox` (default %(default)s)",
    )
    parser.add_argument("--user", type=int, default=DEMO_USER_ID, help="Telegram user id to chat as")
    parser.add_argument("--name", default="Demo", help="first name of a new user")
    parser.add_argument("--lang", default="en", help="Telegram language of a new user")
    parser.add_argument("--no-color", action="store_true", help="plain text, no terminal styles")


def run_chat(args: argparse.Namespace) -> int:
    return _run_async(lambda: _chat(args))


async def _chat(args: argparse.Namespace) -> int:
    stdin, stdout = sys.stdin, sys.stdout
    theme = choose_theme(stdout, args.no_color)
    console = Console(stdout, interactive=stdin.isatty() and stdout.isatty(), theme=theme)
    configure_logging(None, None)
    stop = asyncio.Event()
    with _terminal_state(stdin), _stop_on_signals(stop):
        async with ChatSession(
            args.telegram_url,
            args.user,
            output=console.write,
            theme=theme,
            first_name=args.name,
            language_code=args.lang,
        ) as session:
            if not session.connected:
                print(
                    f"Cannot reach a fake Bot API server at {args.telegram_url} "
                    "(start one with `smmbot sandbox`).",
                    file=sys.stderr,
                )
                return 1
            details = [f"Chatting as user {args.user} through {args.telegram_url}."]
            console.write(banner("SMM Storefront — sandbox chat", details, theme))
            lines = await open_lines(stdin, console)
            await chat_loop(session, lines, stop, scripted=not console.interactive)
        console.end_line()
    return 0


# -- smmbot sandbox --------------------------------------------------------------------------------
def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=SANDBOX_PANEL_PORT, help="panel simulator port (default %(default)s)"
    )
    parser.add_argument(
        "--telegram-port",
        type=int,
        default=SANDBOX_TELEGRAM_PORT,
        help="fake Bot API server port (default %(default)s)",
    )
    parser.add_argument(
        "--cryptopay-port",
        type=int,
        default=SANDBOX_CRYPTOPAY_PORT,
        help="Crypto Pay simulator port (default %(default)s)",
    )
    parser.add_argument("--token", default=DEMO_TOKEN, help="the bot token the fake server accepts")
    parser.add_argument("--key", default=DEMO_PANEL_KEY, help="the API key the simulator accepts")
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=DEMO_TICK_SECONDS,
        help="seconds between order progress steps (0 = clock off; POST /_sim/tick advances it)",
    )


def run_sandbox(args: argparse.Namespace) -> int:
    return _run_async(lambda: _sandbox(args))


async def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.demo.environment import sandbox_servers

    # Warnings (e.g. a call real Telegram would refuse) are worth seeing while developing.
    configure_logging(None, None, level=logging.WARNING, stream=sys.stderr)
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        async with contextlib.AsyncExitStack() as stack:
            try:
                servers = await stack.enter_async_context(
                    sandbox_servers(
                        host=args.host,
                        telegram_port=args.telegram_port,
                        panel_port=args.port,
                        cryptopay_port=args.cryptopay_port,
                        token=args.token,
                        panel_key=args.key,
                        tick_seconds=args.tick_seconds if args.tick_seconds > 0 else None,
                    )
                )
            except Exception as error:  # port in use, missing Bot API spec...
                print(f"Cannot start the sandbox: {error}", file=sys.stderr)
                return 1
            print(_sandbox_text(servers, args.tick_seconds), flush=True)
            await stop.wait()
    print("Sandbox stopped.", flush=True)
    return 0


def _sandbox_text(servers: SandboxServers, tick_seconds: float) -> str:
    tg = servers.telegram.base_url
    panel_root = servers.panel.url.rsplit("/api", 1)[0]
    clock = f"one step every {tick_seconds:g}s" if tick_seconds > 0 else "off"
    return "\n".join(
        [
            f"Sandbox running: panel simulator ({len(servers.state.catalog)} services, clock {clock}) "
            "and a fake Telegram Bot API server.",
            "Settings for a bot (`smmbot run` with these in its environment; they win over .env):",
            *(f"  {name}={value}" for name, value in servers.environment().items()),
            f"Chat with the bot as a user:  smmbot chat --telegram-url {tg}",
            f'Act as a user over HTTP:  POST {tg}/_fake/users/ID/send {{"text": "/start"}},',
            '  POST .../press {"message_id": N, "callback_data": "..."}, GET .../messages?after_version=N&timeout=S',
            f"Move orders along:  POST {panel_root}/_sim/tick   (state: GET {panel_root}/_sim/state)",
            f"Pay a Crypto Pay invoice:  POST {servers.cryptopay.url.rsplit('/api', 1)[0]}/_sim/pay/HASH "
            f'(its bot_invoice_url); a Stars invoice:  POST {tg}/_fake/users/ID/pay {{"message_id": N}}',
            "Ctrl-C stops.",
        ]
    )


def _run_async(main: Callable[[], Any]) -> int:
    try:
        return int(asyncio.run(main()))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        print(file=sys.stderr)
        return 130
