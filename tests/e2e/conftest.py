"""End-to-end harness: the real bot (BotApp, polling) between the fake Telegram server and the panel simulator.

Everything talks over HTTP on 127.0.0.1, exactly as in production; only the URLs differ.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotApp
from bot.config import Settings, load_settings
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import FakeTelegramServer, FakeUser, run_fake_telegram
from storage.models import LedgerKind
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository
from tests.conftest import POSTGRES_URL, postgres_unavailable_reason, reset_postgres

SIM_KEY = "e2e-panel-key-4f1c9"
ADMIN_ID = 900


class Shop:
    """One shop under test: start, stop and restart the bot on the same database and servers."""

    def __init__(self, tg: FakeTelegramServer, sim: SimulatorHandle, settings: Settings) -> None:
        self.tg = tg
        self.sim = sim
        self.settings = settings
        self.app: BotApp | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self, **overrides: Any) -> BotApp:
        if overrides:
            self.settings = self.settings.model_copy(update=overrides)
        stack = contextlib.AsyncExitStack()
        app = await stack.enter_async_context(BotApp.open(self.settings))
        await stack.enter_async_context(
            self.tg.polling(
                app.dispatcher, bot=app.bot, allowed_updates=app.dispatcher.resolve_used_update_types()
            )
        )
        self.app, self._stack = app, stack
        return app

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self.app, self._stack = None, None

    async def restart(self, **overrides: Any) -> BotApp:
        await self.stop()
        return await self.start(**overrides)

    def user(
        self, user_id: int = 1001, first_name: str = "Ann", language_code: str = "en", **kw: Any
    ) -> FakeUser:
        return self.tg.add_user(user_id, first_name, language_code=language_code, **kw)

    async def fund(self, user_id: int, amount: str, first_name: str = "Ann") -> None:
        """Credit a user's wallet through the ledger, creating the user if needed."""
        assert self.app is not None
        async with self.app.session_factory.begin() as session:
            users = UserRepository(session)
            if await users.get(user_id) is None:
                await users.touch(user_id, username=None, first_name=first_name, language_code="en")
            await LedgerRepository(session).apply(
                user_id=user_id,
                amount=Decimal(amount),
                kind=LedgerKind.DEPOSIT,
                key=f"test-deposit:{user_id}:{amount}:{os.urandom(4).hex()}",
            )

    async def balance(self, user_id: int) -> tuple[Decimal, Decimal]:
        assert self.app is not None
        async with self.app.session_factory() as session:
            ledger = LedgerRepository(session)
            return await ledger.balance(user_id), await ledger.sum_entries(user_id)


async def e2e_database_url(tmp_path: Path) -> str:
    """SQLite by default; `TEST_DATABASE=postgresql` runs the end-to-end suite on PostgreSQL."""
    if os.environ.get("TEST_DATABASE", "").lower().startswith("postgres"):
        reason = await postgres_unavailable_reason()
        if reason:
            pytest.skip(reason)
        await reset_postgres()
        return POSTGRES_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}"


def shop_settings(tg: FakeTelegramServer, sim: SimulatorHandle, database_url: str) -> Settings:
    """The settings every end-to-end shop runs with: only the URLs point at the local fakes."""
    return load_settings(
        _env_file=None,
        bot_token=tg.token,
        telegram_api_url=tg.base_url,
        panel_api_url=sim.url,
        panel_api_key=SIM_KEY,
        admin_ids=str(ADMIN_ID),
        database_url=database_url,
        poll_interval_seconds=1,
        markup_percent=Decimal("50"),
        panel_timeout_seconds=1.0,
        panel_requests_per_second=1000,
    )


@pytest.fixture
def sim_state() -> PanelState:
    return PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0)


@pytest.fixture
async def shop_servers(sim_state: PanelState) -> AsyncIterator[tuple[FakeTelegramServer, SimulatorHandle]]:
    async with run_fake_telegram() as tg, run_panel_simulator(sim_state) as sim:
        yield tg, sim


@pytest.fixture
async def shop(
    tmp_path: Path, shop_servers: tuple[FakeTelegramServer, SimulatorHandle]
) -> AsyncIterator[Shop]:
    tg, sim = shop_servers
    shop = Shop(tg, sim, shop_settings(tg, sim, await e2e_database_url(tmp_path)))
    await shop.start()
    try:
        yield shop
    finally:
        await shop.stop()
    tg.assert_no_violations()
    tg.assert_all_callbacks_answered()
