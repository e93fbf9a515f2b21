"""`python -m bot` as a real process takes a Telegram Stars top-up end to end, with Crypto Pay
configured too, and neither payment token reaches its log."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from sandbox.cryptopay_simulator import CryptoPayState, run_cryptopay_simulator
from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram
from tests.process.test_run import PANEL_KEY, clean_env


async def test_python_m_bot_takes_a_stars_top_up(tmp_path: Path) -> None:
    async with (
        run_fake_telegram() as tg,
        run_panel_simulator(PanelState(api_key=PANEL_KEY)) as sim,
        run_cryptopay_simulator(CryptoPayState()) as cryptopay,
    ):
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=PANEL_KEY,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
            STARS_RATE="0.02",
            CRYPTO_PAY_TOKEN=cryptopay.token,
            CRYPTO_PAY_API_URL=cryptopay.url,
            LOG_LEVEL="DEBUG",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            user = tg.add_user(5002, "Payer")
            await user.send_text("/start")
            await user.wait_for_message(contains="Hello, Payer", timeout=40)
            await user.send_text("/topup")
            await user.wait_for_message(contains="Top up your balance")
            await user.send_text("3")
            await user.wait_for_message(contains="How would you like to pay")
            await user.press("Telegram Stars")
            invoice = await user.wait_for_message(lambda m: m.kind == "invoice")
            assert invoice.extra["invoice"]["total_amount"] == 150
            outcome = await user.pay(invoice)
            assert outcome.paid, outcome.error
            credited = await user.wait_for_message(contains="credited", timeout=10)
            assert "Your balance: 3.00 USD" in credited.text
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 30)
        log = err.decode()
        assert process.returncode == 0, log[-2000:]
        assert "Traceback" not in log
        assert cryptopay.token not in log and cryptopay.token.split(":")[1] not in log
        assert tg.token not in log
        tg.assert_no_violations()
