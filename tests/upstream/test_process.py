"""`python -m bot` as a real process against a poisoned panel: it starts, sells, tracks the rest.

Before bot/panel/bounds.py the first catalog sync raised at start-up (an integer beyond 64 bits
does not fit SQLite's INTEGER) and the process exited with a traceback; a poisoned status rolled
back its whole batch on every cycle, so no neighbour was ever completed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram
from storage.db import database
from storage.models import Order, OrderState, utcnow
from tests.process.test_run import clean_env
from tests.tracking.conftest import API_KEY
from tests.tracking.helpers import insert_active, make_user
from tests.upstream.test_poisoned_data import poisoned_catalog

ADMIN = 900
CUSTOMER = 1001


async def test_real_process_starts_on_a_poisoned_catalog_and_tracks_past_a_poisoned_status(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    state = PanelState(api_key=API_KEY, catalog=poisoned_catalog(), balance="100000", partial_chance=0.0)
    async with database(url) as (_, factory):
        await make_user(factory, CUSTOMER)
        ids = await insert_active(factory, state, 3, placed_at=utcnow() - timedelta(hours=1))
        async with factory() as session:
            poisoned = await session.get(Order, ids[1])
            assert poisoned is not None and poisoned.upstream_id is not None
            poisoned_upstream = poisoned.upstream_id
    state.status_overrides[poisoned_upstream] = {"remains": "1e30", "start_count": "9" * 60}
    for sim_order in state.orders.values():
        sim_order.status, sim_order.remains = "Completed", 0
    async with run_fake_telegram() as tg, run_panel_simulator(state) as sim:
        admin = tg.add_user(ADMIN, "Boss")
        customer = tg.add_user(CUSTOMER, "Ann")
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=API_KEY,
            DATABASE_URL=url,
            ADMIN_IDS=str(ADMIN),
            POLL_INTERVAL_SECONDS="1",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            await admin.send_text("/start")
            await admin.wait_for_message(contains="Hello, Boss", timeout=40)
            await customer.send_text("/start")
            await customer.wait_for_message(contains="Hello, Ann", timeout=40)
            await customer.wait_for_message(contains="completed", timeout=40)
            alert = await admin.wait_for_message(contains=f"#{ids[1]}", timeout=40)
            assert "1e30" in alert.text or "999999" in alert.text
            await admin.wait_for_message(contains="catalog", timeout=40)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 30)
        log = err.decode()
        assert process.returncode == 0, log[-2000:]
        assert "Traceback" not in log
        assert API_KEY not in log
    async with database(url, migrate=False) as (_, factory), factory() as session:
        rows = {o.id: o for o in (await session.execute(select(Order))).scalars()}
    assert rows[ids[1]].state == OrderState.ACTIVE and rows[ids[1]].remains == 100
    assert {rows[ids[0]].state, rows[ids[2]].state} == {OrderState.COMPLETED}
    assert rows[ids[0]].refunded == Decimal("0")
