"""Scale-out harness: bot instances in webhook mode behind a round-robin HTTP proxy.

Each `Instance` is a full `BotApp` (its own engine, panel client, bot, dispatcher, scheduler) served
by `bot.webhook.WebhookServer` on a free port of 127.0.0.1. `RoundRobinProxy` is the load balancer:
it forwards each POST, headers included, to the next instance, and like nginx's
`proxy_next_upstream error` tries the next one when an instance refuses the connection. The fake
Telegram server delivers updates to the proxy's URL (setWebhook).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import TelegramObject, Update
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import BotApp
from bot.config import Settings, load_settings
from bot.coordination import LeaderLease
from bot.webhook import SECRET_HEADER, WebhookServer
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram
from storage.models import LedgerKind
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository
from tests.conftest import POSTGRES_URL, postgres_unavailable_reason, redis_test_url, reset_postgres

SIM_KEY = "scale-panel-key-7d2a1"
ADMIN_ID = 900
# Not the database tests/e2e/test_redis_state.py flushes, so the suites may run side by side.
REDIS_URL = os.environ.get("TEST_SCALE_REDIS_URL", redis_test_url(14))


async def redis_unavailable_reason(url: str = REDIS_URL) -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
        await client.flushdb()
        return None
    except Exception as error:
        return f"Redis not reachable at {url} ({type(error).__name__})"
    finally:
        await client.aclose()


@pytest.fixture
async def pg_url() -> str:
    """A fresh PostgreSQL database (schema dropped), or the test is skipped with the reason."""
    reason = await postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    await reset_postgres()
    return POSTGRES_URL


@pytest.fixture
async def redis_url() -> str:
    reason = await redis_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegramServer, SimulatorHandle]]:
    state = PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0)
    async with run_fake_telegram() as tg, run_panel_simulator(state) as sim:
        yield tg, sim


def scale_settings(
    tg: FakeTelegramServer, sim: SimulatorHandle, database_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "bot_token": tg.token,
        "telegram_api_url": tg.base_url,
        "panel_api_url": sim.url,
        "panel_api_key": SIM_KEY,
        "admin_ids": str(ADMIN_ID),
        "database_url": database_url,
        "poll_interval_seconds": 1,
        "lease_seconds": 2,
        "markup_percent": Decimal("50"),
        "panel_timeout_seconds": 1.0,
        "panel_requests_per_second": 1000,
        "webhook_listen_host": "127.0.0.1",
        "webhook_port": 0,
        "instance_id": "solo",
    }
    values.update(overrides)
    return load_settings(**values)


def sqlite_url(tmp_path: Path, name: str = "shop.sqlite3") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass
class Runs:
    """Which instance ran the handlers of which update (counted after de-duplication)."""

    by_update: Counter[int] = field(default_factory=Counter)
    where: dict[int, list[str]] = field(default_factory=dict)

    def middleware(self, name: str) -> Callable[[Handler, TelegramObject, dict[str, Any]], Awaitable[Any]]:
        async def count(handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
            if isinstance(event, Update):
                self.by_update[event.update_id] += 1
                self.where.setdefault(event.update_id, []).append(name)
            return await handler(event, data)

        return count


class Instance:
    """One bot process, in-process: BotApp + WebhookServer."""

    def __init__(self, settings: Settings, runs: Runs | None = None) -> None:
        self.settings = settings
        self.name = settings.instance_id
        self.runs = runs
        self.app: BotApp | None = None
        self.server: WebhookServer | None = None
        self.killed = False
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def bot_app(self) -> BotApp:
        assert self.app is not None, f"{self.name} is not running"
        return self.app

    @property
    def leader(self) -> LeaderLease:
        lease: LeaderLease = self.bot_app.dispatcher.workflow_data["leader"]
        return lease

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def start(self, *, set_webhook: bool = False) -> Instance:
        stack = contextlib.AsyncExitStack()
        try:
            self.app = await stack.enter_async_context(BotApp.open(self.settings))
            if self.runs is not None:
                # Inner update middleware: runs after de-duplication, right before the handlers.
                self.app.dispatcher.update.middleware(self.runs.middleware(self.name))
            self.server = WebhookServer(self.app, set_webhook=set_webhook)
            await self.server.start()
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def stop(self) -> None:
        """Graceful stop (what SIGTERM does): in-flight updates finish, the lease is released."""
        if self.server is not None:
            await self.server.stop()
        if self._stack is not None:
            await self._stack.aclose()
        self.server, self._stack, self.app = None, None, None

    async def kill(self) -> None:
        """Model a crash: jobs stop, the listener vanishes, updates in flight are cut; the lease is
        *not* released and nothing of the graceful shutdown runs."""
        assert self.server is not None and self.server.site is not None
        self.killed = True
        scheduler: AsyncIOScheduler = self.bot_app.dispatcher.workflow_data["scheduler"]
        scheduler.shutdown(wait=False)
        await self.server.site.stop()
        for task in list(self.server.handler.in_flight):
            task.cancel()

    async def close(self) -> None:
        """Test teardown: release what the instance still holds (after a kill, too)."""
        with contextlib.suppress(Exception):
            await self.stop()


class RoundRobinProxy:
    """A tiny HTTP load balancer: each POST goes to the next target, headers and body unchanged."""

    FORWARDED_HEADERS = ("Content-Type", SECRET_HEADER)

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.forwarded: list[tuple[str, bytes, int]] = []  # (target, body, status)
        self.failed: list[tuple[str, bytes]] = []  # (target, body): reached the instance, then cut
        self.refused: list[tuple[str, bytes]] = []  # (target, body): the instance was not listening
        self.in_flight: Counter[str] = Counter()  # target -> requests it holds now
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # No keep-alive: every request opens a connection, so a dead instance is noticed at once.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in self.FORWARDED_HEADERS if name in request.headers}
        for _ in range(len(self.targets)):
            target = self.targets[next(self._turn) % len(self.targets)]
            self.in_flight[target] += 1
            try:
                async with self._session.request(
                    request.method, target + request.path_qs, data=body, headers=headers
                ) as response:
                    payload = await response.read()
                    self.forwarded.append((target, body, response.status))
                    return web.Response(
                        status=response.status,
                        body=payload,
                        headers={"Content-Type": response.headers.get("Content-Type", "text/plain")},
                    )
            except aiohttp.ClientConnectorError:
                self.refused.append((target, body))  # never reached it: nothing can have run
                continue  # that instance is down: try the next one
            except aiohttp.ClientConnectionError:
                self.failed.append((target, body))  # it died with the update in hand
                continue
            finally:
                self.in_flight[target] -= 1
        return web.Response(status=502, text="no instance answered")

    async def post(self, path: str, body: bytes, *, secret: str | None) -> int:
        """POST like Telegram does (JSON, optional secret header); returns the status."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status


async def fund(app: BotApp, user_id: int, amount: str, first_name: str = "Ann") -> None:
    """Credit a wallet through the ledger, creating the user if needed."""
    async with app.session_factory.begin() as session:
        users = UserRepository(session)
        if await users.get(user_id) is None:
            await users.touch(user_id, username=None, first_name=first_name, language_code="en")
        await LedgerRepository(session).apply(
            user_id=user_id,
            amount=Decimal(amount),
            kind=LedgerKind.DEPOSIT,
            key=f"test-deposit:{user_id}:{amount}:{os.urandom(4).hex()}",
        )


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float, step: float = 0.05) -> float:
    """Poll `condition` until true; returns the seconds it took (AssertionError on timeout)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        if await condition():
            return loop.time() - start
        if loop.time() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)
