"""Long polling and a real SIGKILL: what README "Scale-out" promises for polling mode.

aiogram confirms a batch of updates (the offset of the next getUpdates) while it is still being
processed, so the update in flight at a SIGKILL is not delivered again (at most once for it: here
a Confirm whose panel call hangs), while every update Telegram received while the bot was down is
delivered after the restart.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram
from storage.db import database
from storage.models import LedgerKind, Order, OrderState
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository
from tests.process.test_run import PANEL_KEY, clean_env


async def test_sigkill_mid_update_in_polling_mode(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    async with database(url) as (_, factory), factory.begin() as session:
        await UserRepository(session).touch(5002, username=None, first_name="Kim", language_code="en")
        await LedgerRepository(session).apply(
            user_id=5002, amount=Decimal("10"), kind=LedgerKind.DEPOSIT, key="kill:5002"
        )
    state = PanelState(api_key=PANEL_KEY, partial_chance=0.0)
    async with run_fake_telegram() as tg, run_panel_simulator(state) as sim:
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=PANEL_KEY,
            DATABASE_URL=url,
            PANEL_TIMEOUT_SECONDS="60",
            LOG_LEVEL="INFO",
        )

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.DEVNULL
            )

        process = await start()
        try:
            kim = tg.add_user(5002, "Kim")
            await kim.send_text("/order 1")
            await kim.wait_for_message(contains="Send the link", timeout=120)
            await kim.send_text("https://instagram.com/kim")
            await kim.wait_for_message(contains="How many", timeout=20)
            await kim.send_text("1000")
            await kim.wait_for_message(contains="Check your order", timeout=20)
            state.inject_fault("add", "hang", seconds=120)  # the panel takes its time
            await kim.press("Confirm")
            for _ in range(400):  # the Confirm is in flight: charged, waiting for the panel
                if state.count("add") == 1:
                    break
                await asyncio.sleep(0.05)
            assert state.count("add") == 1
            await asyncio.sleep(0.5)  # aiogram has asked for the next batch meanwhile
            process.send_signal(signal.SIGKILL)
            await process.wait()

            await kim.send_text("/start")  # while the bot is down: Telegram keeps it
            process = await start()
            await kim.wait_for_message(contains="Hello, Kim", timeout=120)
            await asyncio.sleep(1.0)
            # The Confirm in flight at the kill was confirmed to Telegram: not delivered again.
            assert state.count("add") == 1
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
    async with database(url, migrate=False) as (_, factory), factory() as session:
        orders = (await session.scalars(select(Order))).all()
    # What it had committed stays: the order is charged, and the restart's sweep of interrupted
    # orders took it out of "placing" for reconciliation with the panel.
    assert len(orders) == 1 and orders[0].state != OrderState.PLACING
    assert orders[0].price > 0
