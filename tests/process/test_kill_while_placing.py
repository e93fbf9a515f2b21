"""Fault injection: the real bot is SIGKILLed while the panel holds its `add` open.

Before issue #13 the order stayed "placing" for ever after a quick restart (start-up recovery only
took orders older than 2 minutes): charged, running upstream, never polled, admins never told.
Now the restarted shop (SQLite: one process owns the database) settles its orphan at once as
"outcome unknown", the admin gets an alert with the settle-by-hand actions, and `add` is never
sent a second time.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import FakeMessage, FakeTelegramServer, run_fake_telegram
from tests.process.test_run import clean_env

PANEL_KEY = "kill-test-panel-key-3b9"
ADMIN_ID = 900


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=log.parent, env=env, stdout=sink, stderr=sink
        )


async def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not callable(condition) or not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_sigkill_during_add_then_restart_alerts_the_admin_and_never_adds_twice(tmp_path: Path) -> None:
    state = PanelState(api_key=PANEL_KEY, partial_chance=0.0)
    async with run_fake_telegram() as tg, run_panel_simulator(state) as sim:
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=PANEL_KEY,
            ADMIN_IDS=str(ADMIN_ID),
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
            POLL_INTERVAL_SECONDS="1",
            PANEL_TIMEOUT_SECONDS="60",
            PLACING_GRACE_SECONDS="300",
        )
        log = tmp_path / "bot.log"
        process = await start_bot(env, log)
        try:
            summary = await place_and_hang(tg, state)
            process.send_signal(signal.SIGKILL)  # the panel still holds the add open
            await process.wait()
            assert state.count("add") == 1
            process = await start_bot(env, log)
            await settle_by_hand(tg, state, summary)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        text = log.read_text()
        assert state.count("add") == 1  # never a second add
        assert tg.token not in text and PANEL_KEY not in text
        assert process.returncode == 0, text[-3000:]


async def place_and_hang(tg: FakeTelegramServer, state: PanelState) -> FakeMessage:
    admin = tg.add_user(ADMIN_ID, "Boss")
    ann = tg.add_user(1001, "Ann")
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann", timeout=60)
    await admin.send_text("/addbalance 1001 10")
    await admin.wait_for_message(contains="Added", timeout=10)
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link", timeout=10)
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("1000")
    summary = await ann.wait_for_message(contains="Check your order")
    # The panel creates the order, then holds its answer (a slow panel, a lost connection).
    state.inject_fault("add", "hang_after_commit", seconds=120)
    await ann.press("Confirm", summary)
    await wait_until(lambda: state.count("add") == 1)
    await asyncio.sleep(0.3)  # the add is open at the panel
    return summary


async def settle_by_hand(tg: FakeTelegramServer, state: PanelState, summary: FakeMessage) -> None:
    admin = tg.user(ADMIN_ID)
    # Within seconds of the restart: the new process takes over the lease the dead one left (it
    # owns the SQLite file), so the jobs run at once, not LEASE_SECONDS later.
    alert = await admin.wait_for_message(contains="Order #1", timeout=20)
    assert "answer to the order was lost" in alert.text
    assert any("Attach" in label for label in alert.button_texts), alert.button_texts
    # The admin finds the order at the panel and attaches its id: tracking takes over.
    (upstream_id,) = list(state.orders)
    await admin.press(next(label for label in alert.button_texts if "Attach" in label), alert)
    await admin.wait_for_message(contains="Send the supplier's order id", timeout=10)
    await admin.send_text(upstream_id)
    done = await admin.wait_for_message(contains="is now tracked", timeout=10)
    assert upstream_id in done.text
    # The customer taps Confirm again after the restart: the order stands, nothing is sent.
    ann = tg.user(1001)
    await ann.press_data(summary.find_button("Confirm")["callback_data"], summary)
    again = await ann.wait_for_message(contains="already placed", timeout=10)
    assert "#1" in again.text
