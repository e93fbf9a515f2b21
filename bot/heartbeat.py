"""Liveness of a running bot, for `smmbot check --offline` (the Docker HEALTHCHECK).

A process can be alive while its work has stopped: a polling loop stuck on a dead connection
answers nobody, yet the container looks healthy. So the loop itself leaves a trace: in polling mode
every finished `getUpdates` call (answered or failed: the loop still turns during a Telegram
outage, it only cannot reach it) touches the heartbeat file; in webhook mode a task of the event
loop touches it every few seconds. `smmbot check` fails when the file is older than `MAX_AGE`.
The file is removed on a clean stop, so a stopped bot reads as "not running", not as dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

# getUpdates waits up to 25 s for news, a dead connection up to aiogram's 60 s request timeout,
# then the loop backs off a few seconds: a loop that turns at all beats within this.
MAX_AGE = 180.0
WEBHOOK_BEAT_SECONDS = 10.0


class Heartbeat:
    """Writes the current time into `path` (at most every `every` seconds; atomic replace)."""

    def __init__(self, path: Path, *, every: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.every = every
        self.clock = clock
        self._last = float("-inf")
        self._warned = False

    def beat(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.every:
            return
        self._last = now
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(f"{now:.3f}\n", encoding="ascii")
            os.replace(temporary, self.path)
        except OSError as error:
            if not self._warned:  # the bot runs on; only the health check will say so
                log.warning("cannot write the heartbeat file %s: %s", self.path, error)
                self._warned = True

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def heartbeat_age(path: Path, *, now: float | None = None) -> float | None:
    """Seconds since the running bot last beat, or None when there is no heartbeat file."""
    try:
        written = float(path.read_text(encoding="ascii").strip() or "nan")
    except (OSError, ValueError):
        return None
    if written != written:  # NaN: an empty or torn file
        return None
    return max(0.0, (time.time() if now is None else now) - written)


class PollingHeartbeat(BaseRequestMiddleware):
    """A bot session middleware: each finished `getUpdates` call (answer or error) is a beat."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        finally:
            if isinstance(method, GetUpdates):
                self.heartbeat.beat()


async def beat_forever(heartbeat: Heartbeat, every: float = WEBHOOK_BEAT_SECONDS) -> None:
    """Webhook mode: the event loop itself is the thing that must keep turning."""
    while True:
        heartbeat.beat(force=True)
        await asyncio.sleep(every)
