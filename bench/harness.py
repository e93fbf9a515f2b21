"""Load-generator side of the conversation benchmarks.

The fake Bot API server, the panel simulator and the simulated users live in this process; the bot
under test runs as a separate process (`python -m bot`, or bench/bare_bot.py), so the two share
the machine's two cores the way a bot and Telegram would not share one interpreter.

`BenchTelegram` is the sandbox server plus a time stamp for every message the bot sends or edits
(taken when the fake server stores it) and a per-chat wake-up, so waiting for 200 users costs
O(1) per bot reaction instead of waking every waiter on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, REPO_DIR, ProcStat, proc_stat
from sandbox.telegram_server import FakeTelegramServer
from sandbox.telegram_state import FakeChat, FakeMessage, FakeUser


class BenchTelegram(FakeTelegramServer):
    """FakeTelegramServer that stamps each bot message/edit and wakes only that chat's waiter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stamps: dict[int, float] = {}  # event version -> perf_counter() when stored
        self._chat_events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    async def __aenter__(self) -> BenchTelegram:
        await self.start()
        return self

    def _signal(self, chat: FakeChat, msg: FakeMessage) -> None:
        if msg.from_bot:
            self.stamps[msg.version] = time.perf_counter()
            self._chat_events[chat.id].set()

    def _store_message(self, chat: FakeChat, *, from_bot: bool = True, **fields: Any) -> FakeMessage:
        msg = super()._store_message(chat, from_bot=from_bot, **fields)
        self._signal(chat, msg)
        return msg

    def _replace_message(self, chat: FakeChat, msg: FakeMessage, **changes: Any) -> FakeMessage:
        new = super()._replace_message(chat, msg, **changes)
        self._signal(chat, new)
        return new

    async def reaction(
        self, user: FakeUser, after: int, contains: str | None, timeout: float
    ) -> tuple[FakeMessage, float]:
        """The first bot message/edit in the user's chat after version `after` (containing `contains`).

        Returns it with the perf_counter() time the server stored it.
        """
        chat = self.chats[user.id]
        deadline = time.perf_counter() + timeout
        scanned = 0
        while True:
            events = chat.events
            for index in range(scanned, len(events)):
                event = events[index]
                if event.version <= after or event.kind == "delete" or not event.message.from_bot:
                    continue
                if contains is None or contains in event.message.text:
                    return event.message, self.stamps[event.version]
            scanned = len(events)
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                seen = [e.message.text[:60] for e in events if e.version > after]
                raise TimeoutError(f"user {user.id}: no reaction containing {contains!r}; saw {seen}")
            waiter = self._chat_events[user.id]
            waiter.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), remaining)


@dataclass(frozen=True)
class Step:
    """One user action and the bot reaction that ends it."""

    name: str
    text: str | None = None  # send this text ...
    press: str | tuple[int, int] | None = None  # ... or press this button
    expect: str | None = None  # substring of the reaction; None = any bot message


@dataclass
class StepTimes:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    flows: int = 0


async def act(server: BenchTelegram, user: FakeUser, step: Step, timeout: float) -> float:
    """Do the step as the user; seconds from the action to the bot's reaction (server side)."""
    after = server.version
    started = time.perf_counter()
    if step.text is not None:
        await user.send_text(step.text)
    elif step.press is not None:
        await user.press(step.press)
    _, stamp = await server.reaction(user, after, step.expect, timeout)
    return stamp - started


async def run_users(
    server: BenchTelegram,
    users: list[FakeUser],
    flow: Callable[[FakeUser, int], list[Step]],
    *,
    rounds: int,
    timeout: float,
    times: StepTimes,
) -> float:
    """Every user runs `flow` `rounds` times, all users at once; returns the wall time."""

    async def one(user: FakeUser) -> None:
        for round_no in range(rounds):
            try:
                for step in flow(user, round_no):
                    times.latencies[step.name].append(await act(server, user, step, timeout))
            except (TimeoutError, LookupError) as error:
                times.failures.append(str(error)[:300])
                return
            times.flows += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(user) for user in users))
    return time.perf_counter() - started


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any bot setting, plus `values` (a bench never reads .env)."""
    prefixes = (
        "BOT_",
        "PANEL_",
        "DATABASE_",
        "REDIS_",
        "TELEGRAM_",
        "ADMIN_",
        "BROADCAST_",
        "LOG_",
        "WEBHOOK_",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = str(REPO_DIR)
    env.update(values)
    return env


class BotProcess:
    """A bot under test in its own process; `pid` for /proc readings."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stat(self) -> ProcStat:
        return proc_stat(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.asynccontextmanager
async def bot_process(
    server: FakeTelegramServer,
    argv: list[str],
    env: Mapping[str, str],
    workdir: Path,
    *,
    name: str,
    webhook: bool = False,
    ready_timeout: float = 60.0,
) -> AsyncIterator[BotProcess]:
    """Start `argv` in `workdir`; yield once it long-polls the fake server (or set its webhook)."""
    log_path = workdir / ("".join(c if c.isalnum() else "_" for c in name) + ".log")
    before = server.stats.calls["getUpdates"]

    def ready() -> bool:
        if webhook:
            return server.webhook is not None
        return server.stats.calls["getUpdates"] > before

    log_file = log_path.open("wb")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=workdir, env=dict(env), stdout=log_file, stderr=log_file
        )
    finally:
        log_file.close()
    handle = BotProcess(process, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while not ready():
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{handle.log_tail()}")
            await asyncio.sleep(0.05)
        yield handle
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def py_spy(pid: int, output: str | None, extra: tuple[str, ...] = ()) -> AsyncIterator[None]:
    """Sample `pid` with py-spy for the block (`--py-spy FILE`; pip install py-spy yourself)."""
    if not output:
        yield
        return
    fmt = "speedscope" if output.endswith(".json") else "raw" if output.endswith(".txt") else "flamegraph"
    local = Path(sys.executable).parent / "py-spy"
    spy = await asyncio.create_subprocess_exec(
        str(local) if local.exists() else "py-spy", "record", "--pid", str(pid), "--rate", "200", "-f", fmt, "-o", output, *extra,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1.0)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        await asyncio.wait_for(spy.wait(), 60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_env(port: int) -> dict[str, str]:
    """What both bots need to serve webhooks on 127.0.0.1:`port`."""
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "WEBHOOK_LISTEN_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_PATH": "/telegram/webhook",
    }


def real_bot_argv(mode: str = "polling") -> list[str]:
    """`smmbot run`: long polling, or webhook mode when WEBHOOK_URL is set (see webhook_env)."""
    return [sys.executable, "-m", "bot", "run"]


def bare_bot_argv() -> list[str]:
    return [sys.executable, str(BENCH_DIR / "bare_bot.py")]


async def settle(seconds: float) -> None:
    """Let the bot go idle (GC, scheduler start) before reading its idle memory."""
    await asyncio.sleep(seconds)


Waiter = Callable[[], Awaitable[None]]
