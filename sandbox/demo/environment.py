"""The offline world: panel simulator + fake Bot API server, and the real bot between them.

`sandbox_servers()` starts the two local servers (used by `smmbot sandbox`); `demo_environment()`
adds the bot (the same `BotApp` code path as production, only URLs differ) on a throw-away SQLite
database and a demo user with a starting balance (used by `smmbot demo` and by tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import BotApp
from bot.config import Settings
from sandbox.cryptopay_simulator import CryptoPayHandle, CryptoPayState, run_cryptopay_simulator
from sandbox.demo.defaults import (
    DEMO_BALANCE,
    DEMO_CRYPTO_POLL_SECONDS,
    DEMO_MANUAL_METHOD,
    DEMO_MARKUP,
    DEMO_PANEL_KEY,
    DEMO_POLL_SECONDS,
    DEMO_PROGRESS_STEPS,
    DEMO_STARS_RATE,
    DEMO_TICK_SECONDS,
    DEMO_TOKEN,
    DEMO_USER_ID,
)
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import DEFAULT_TOKEN, FakeTelegramServer, FakeUser, run_fake_telegram
from storage.models import LedgerKind, ManualPaymentMethod
from storage.repositories.ledger import LedgerRepository
from storage.repositories.topups import ManualMethodRepository
from storage.repositories.users import UserRepository

__all__ = [
    "DEMO_PANEL_KEY",
    "DEMO_TOKEN",
    "DEMO_USER_ID",
    "DemoEnvironment",
    "SandboxServers",
    "demo_environment",
    "demo_settings",
    "isolated_settings",
    "sandbox_servers",
]

log = logging.getLogger(__name__)

assert DEMO_TOKEN == DEFAULT_TOKEN, "the demo token must be the fake server's default"


@dataclass(frozen=True)
class SandboxServers:
    """The local servers (Bot API, panel, Crypto Pay) and what a bot needs to talk to them."""

    telegram: FakeTelegramServer
    panel: SimulatorHandle
    panel_key: str
    cryptopay: CryptoPayHandle

    @property
    def state(self) -> PanelState:
        return self.panel.state

    def environment(self) -> dict[str, str]:
        """The settings a second bot process needs (`smmbot run` with these variables)."""
        return {
            "TELEGRAM_API_URL": self.telegram.base_url,
            "BOT_TOKEN": self.telegram.token,
            "PANEL_API_URL": self.panel.url,
            "PANEL_API_KEY": self.panel_key,
            "STARS_RATE": str(DEMO_STARS_RATE),
            "CRYPTO_PAY_TOKEN": self.cryptopay.token,
            "CRYPTO_PAY_API_URL": self.cryptopay.url,
        }


@contextlib.asynccontextmanager
async def sandbox_servers(
    *,
    host: str = "127.0.0.1",
    telegram_port: int = 0,
    panel_port: int = 0,
    cryptopay_port: int = 0,
    token: str = DEMO_TOKEN,
    panel_key: str = DEMO_PANEL_KEY,
    tick_seconds: float | None = DEMO_TICK_SECONDS,
    state: PanelState | None = None,
) -> AsyncIterator[SandboxServers]:
    """Start the panel simulator (realistic catalog, clock ticking), the fake Bot API server and the
    Crypto Pay simulator.

    ``tick_seconds=None`` leaves the simulator clock stopped (tests drive it themselves).
    Ports 0 pick free ports.
    """
    if state is None:
        state = PanelState(api_key=panel_key, progress_steps=DEMO_PROGRESS_STEPS, balance=Decimal("1000"))
    async with (
        run_panel_simulator(state, host, panel_port) as panel,
        run_fake_telegram(token, host=host, port=telegram_port) as telegram,
        run_cryptopay_simulator(CryptoPayState(), host, cryptopay_port) as cryptopay,
    ):
        if tick_seconds:
            state.start_clock(tick_seconds)
        yield SandboxServers(telegram=telegram, panel=panel, panel_key=state.api_key, cryptopay=cryptopay)


def isolated_settings(**values: Any) -> Settings:
    """Settings from ``values`` and the defaults only: no `.env`, no environment variables.

    Every field is passed explicitly, so nothing from the machine (a real BOT_TOKEN, REDIS_URL,
    ALLOWED_USER_IDS...) leaks into the demo.
    """
    explicit: dict[str, Any] = {
        name: field.get_default(call_default_factory=True)
        for name, field in Settings.model_fields.items()
        if not field.is_required()
    }
    explicit.update(values)
    return Settings(_env_file=None, **explicit)


def demo_settings(
    servers: SandboxServers,
    database_url: str,
    *,
    admin_ids: list[int] | None = None,
    poll_interval_seconds: float = DEMO_POLL_SECONDS,
    log_level: str = "INFO",
) -> Settings:
    return isolated_settings(
        bot_token=servers.telegram.token,
        telegram_api_url=servers.telegram.base_url,
        panel_api_url=servers.panel.url,
        panel_api_key=servers.panel_key,
        admin_ids=admin_ids or [],
        database_url=database_url,
        poll_interval_seconds=poll_interval_seconds,
        markup_percent=DEMO_MARKUP,
        panel_timeout_seconds=10.0,
        panel_requests_per_second=50.0,
        log_level=log_level,
        # Every top-up method, paid through the local servers (the terminal chat pays them).
        stars_rate=DEMO_STARS_RATE,
        crypto_pay_token=servers.cryptopay.token,
        crypto_pay_api_url=servers.cryptopay.url,
        crypto_pay_poll_seconds=DEMO_CRYPTO_POLL_SECONDS,
    )


@dataclass(frozen=True)
class DemoEnvironment:
    """A running demo: the servers, the bot and the demo user."""

    servers: SandboxServers
    app: BotApp
    user: FakeUser
    settings: Settings
    workdir: Path
    balance: Decimal

    @property
    def telegram(self) -> FakeTelegramServer:
        return self.servers.telegram

    @property
    def panel(self) -> SimulatorHandle:
        return self.servers.panel

    @property
    def is_admin(self) -> bool:
        return self.user.id in self.settings.admin_ids


async def fund_user(app: BotApp, user: FakeUser, amount: Decimal) -> None:
    """Create the user in our database and credit ``amount`` through the ledger."""
    async with app.session_factory.begin() as session:
        users = UserRepository(session)
        if await users.get(user.id) is None:
            await users.touch(
                user.id,
                username=user.username,
                first_name=user.first_name,
                language_code=user.language_code,
            )
        await LedgerRepository(session).apply(
            user_id=user.id,
            amount=amount,
            kind=LedgerKind.DEPOSIT,
            key=f"demo-deposit:{user.id}",
            note="demo starting balance",
        )


async def add_demo_method(app: BotApp) -> None:
    """A manual payment method, as an owner would add it in /admin → Payments (once per database)."""
    async with app.session_factory.begin() as session:
        repo = ManualMethodRepository(session)
        if await repo.listed(enabled_only=False):
            return
        names, instructions = DEMO_MANUAL_METHOD
        await repo.add(
            ManualPaymentMethod(
                names=dict(names), instructions=dict(instructions), enabled=True, deleted=False, position=1
            )
        )


@contextlib.asynccontextmanager
async def _polling(app: BotApp, telegram: FakeTelegramServer) -> AsyncIterator[None]:
    """Run the bot's own long polling (`BotApp.poll`) until the block ends."""
    before = telegram.stats.calls["getUpdates"]
    task = asyncio.create_task(app.poll(handle_signals=False), name="demo-bot-polling")
    try:
        # Start-up (migrations done, catalog loaded, jobs scheduled) ends with the first getUpdates.
        while telegram.stats.calls["getUpdates"] == before and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if task.done():
            task.result()  # surface a start-up failure
            raise RuntimeError("the bot stopped during start-up")
        yield
    finally:
        if not task.done():
            with contextlib.suppress(RuntimeError):  # "Polling is not started"
                await app.dispatcher.stop_polling()
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@contextlib.asynccontextmanager
async def demo_environment(
    *,
    as_admin: bool = False,
    user_id: int = DEMO_USER_ID,
    first_name: str = "Demo",
    language_code: str = "en",
    balance: Decimal | str = DEMO_BALANCE,
    tick_seconds: float | None = DEMO_TICK_SECONDS,
    poll_interval_seconds: float = DEMO_POLL_SECONDS,
    workdir: Path | None = None,
    state: PanelState | None = None,
) -> AsyncIterator[DemoEnvironment]:
    """Servers + bot + demo user, all local; everything is stopped and deleted at exit.

    The database lives in ``workdir`` (default: a temporary directory removed at exit).
    """
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="smmbot-demo-")))
        database_url = f"sqlite+aiosqlite:///{workdir / 'demo.sqlite3'}"
        async with sandbox_servers(tick_seconds=tick_seconds, state=state) as servers:
            settings = demo_settings(
                servers,
                database_url,
                admin_ids=[user_id] if as_admin else [],
                poll_interval_seconds=poll_interval_seconds,
            )
            user = servers.telegram.add_user(user_id, first_name, language_code=language_code)
            amount = Decimal(str(balance))
            async with BotApp.open(settings) as app:
                if amount > 0:
                    await fund_user(app, user, amount)
                await add_demo_method(app)
                async with _polling(app, servers.telegram):
                    log.info("demo ready: %s", servers.environment()["TELEGRAM_API_URL"])
                    yield DemoEnvironment(servers, app, user, settings, workdir, amount)
