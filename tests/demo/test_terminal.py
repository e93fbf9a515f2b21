"""`python -m bot demo` in a real pseudo-terminal, scripts from a pipe or file, `python -m bot sandbox` as a process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sandbox.demo.chat import ChatSession
from sandbox.demo.environment import demo_environment
from sandbox.demo.render import plain_theme, strip_ansi
from sandbox.demo.terminal import Console, banner, chat_loop, open_lines

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals and signals are POSIX")

# A .env and environment variables that must NOT reach the demo (it would fail if it used them).
REAL_ENV_FILE = (
    "BOT_TOKEN=777:REAL-TOKEN\nTELEGRAM_API_URL=http://127.0.0.1:1\n"
    "PANEL_API_URL=http://127.0.0.1:1/api/v2\nPANEL_API_KEY=real-key\nALLOWED_USER_IDS=42\n"
)


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PYTHONWARNINGS")}
    env.update(TERM="xterm", BOT_TOKEN="888:FROM-THE-ENVIRONMENT", REDIS_URL="redis://127.0.0.1:1/0")
    env.update(extra)
    return env


class Terminal:
    """The user's side of a pseudo-terminal: type, and read the screen as text."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.raw = b""

    @property
    def text(self) -> str:
        return strip_ansi(self.raw.decode("utf-8", errors="replace"))

    def read_until(self, wanted: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while wanted not in self.text:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"{wanted!r} not shown within {timeout}s; screen:\n{self.text[-3000:]}")
        return self.text

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], min(timeout, 0.5))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program closed the terminal
            return False
        self.raw += data
        return bool(data)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")


def test_demo_in_a_pseudo_terminal(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(REAL_ENV_FILE)
    master, slave = os.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=process_env(),
        start_new_session=True,
    )
    os.close(slave)
    screen = Terminal(master)
    try:
        banner = screen.read_until("/quit", 30)
        assert "#N" in banner and "press button N" in banner
        log_file = re.search(r"Logs: (\S+demo\.log)", banner)
        assert log_file is not None
        screen.type("/start")
        screen.read_until("❓ Help", 20)  # the welcome and its last button
        raw = screen.raw.decode("utf-8", errors="replace")
        assert "\x1b[1;32mbot\x1b[0m: 👋 Hello, Demo!" in raw  # styled for a terminal
        assert re.search(r"\[1\]\S* 🛍 Services", screen.text)
        screen.type("/quit")
        code = process.wait(timeout=20)
        screen.drain(1)
    finally:
        if process.poll() is None:  # a failed test: still let it clean up its temporary directory
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        os.close(master)
    assert code == 0, screen.text[-3000:]
    assert time.monotonic() - started < 40
    assert "Demo stopped. Bye!" in screen.text
    assert "Traceback" not in screen.text
    assert not Path(log_file.group(1)).parent.exists()  # the throw-away database and log are gone


@pytest.mark.parametrize("source", ["pipe", "file"])
async def test_a_script_from_a_pipe_or_file_waits_for_each_answer(tmp_path: Path, source: str) -> None:
    script = b"/start\n#4\n"  # the pipe ends there (EOF), the file says /quit
    if source == "pipe":
        read_fd, write_fd = os.pipe()
        os.write(write_fd, script)
        os.close(write_fd)
        stream = os.fdopen(read_fd, "r")
    else:
        (tmp_path / "script.txt").write_bytes(script + b"/quit\n")
        stream = (tmp_path / "script.txt").open()
    out = io.StringIO()
    console = Console(out, interactive=False, theme=plain_theme())
    try:
        async with (
            demo_environment(tick_seconds=None) as env,
            ChatSession(env.telegram.base_url, env.user.id, output=console.write) as session,
        ):
            lines = await open_lines(stream, console)
            await asyncio.wait_for(chat_loop(session, lines, asyncio.Event(), scripted=True), 20)
    finally:
        stream.close()
    text = out.getvalue()
    assert "bot: 👋 Hello, Demo!" in text
    assert "→ [4] 💰 Balance" in text  # pressed on the menu: each line waited for the previous answer
    assert "bot (edited): 💰 Your balance: 100.00 USD" in text


async def test_several_lines_go_as_one_message(tmp_path: Path) -> None:
    """A line ending in a backslash goes on; lines between two triple quotes are one message as typed
    (a pasted list of comments, `#1` and `/quit` in it included). Both are in the help banner."""
    script = (
        "/order 41\n"
        "https://instagram.com/p/1\n"
        "first comment\\\n"
        "second comment\\\n"
        "third\n"
        '"""\n'
        "#1 best post\n"
        "/quit is not a command here\n"
        "\n"
        "   indented stays\n"
        '"""\n'
        "/quit\n"
    )
    (tmp_path / "script.txt").write_text(script, encoding="utf-8")
    out = io.StringIO()
    console = Console(out, interactive=False, theme=plain_theme())
    with (tmp_path / "script.txt").open() as stream:
        async with (
            demo_environment(tick_seconds=None) as env,
            ChatSession(env.telegram.base_url, env.user.id, output=console.write) as session,
        ):
            lines = await open_lines(stream, console)
            await asyncio.wait_for(chat_loop(session, lines, asyncio.Event(), scripted=True), 20)
            typed = [m.text for m in env.telegram.user(env.user.id).history if not m.from_bot]
    assert typed[2:] == [
        "first comment\nsecond comment\nthird",
        "#1 best post\n/quit is not a command here\n\n   indented stays",
    ]
    text = out.getvalue()
    assert text.count("You sent 3 lines") == 2  # each message was one answer (blank lines do not count)
    assert session.quit_requested
    rules = banner("demo", [], plain_theme())
    assert "line\\" in rules and '"""' in rules


def test_sandbox_prints_its_settings_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "sandbox",
            "--port",
            "0",
            "--telegram-port",
            "0",
            "--tick-seconds",
            "0",
            "--cryptopay-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=process_env(),
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not lines or lines[-1] != "Ctrl-C stops.":
            assert time.monotonic() < deadline, lines
            lines.append(process.stdout.readline().rstrip("\n"))
            assert process.poll() is None, lines
        settings = dict(line.strip().split("=", 1) for line in lines if re.match(r"^  [A-Z_]+=", line))
        assert set(settings) == {
            "TELEGRAM_API_URL",
            "BOT_TOKEN",
            "PANEL_API_URL",
            "PANEL_API_KEY",
            "STARS_RATE",
            "CRYPTO_PAY_TOKEN",
            "CRYPTO_PAY_API_URL",
        }

        url = f"{settings['TELEGRAM_API_URL']}/bot{settings['BOT_TOKEN']}/getMe"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
            assert json.load(response)["result"]["is_bot"] is True
        form = f"key={settings['PANEL_API_KEY']}&action=balance".encode()
        with urllib.request.urlopen(settings["PANEL_API_URL"], data=form, timeout=5) as response:  # noqa: S310
            assert "balance" in json.load(response)
        me = urllib.request.Request(  # noqa: S310 - a local test server
            f"{settings['CRYPTO_PAY_API_URL']}/getMe",
            headers={"Crypto-Pay-API-Token": settings["CRYPTO_PAY_TOKEN"]},
        )
        with urllib.request.urlopen(me, timeout=5) as response:  # noqa: S310 - a local test server
            assert json.load(response)["ok"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out.strip().endswith("Sandbox stopped.")
    assert "Traceback" not in err
