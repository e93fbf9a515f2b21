"""Webhook mode as a real process: serves through setWebhook, stops on SIGTERM, releases the lease."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram
from tests.process.test_run import clean_env
from tests.scale.conftest import SIM_KEY

RUN_WEBHOOK = (
    "import asyncio; from bot.config import load_settings; from bot.logging_setup import setup_logging; "
    "from bot.webhook import run_webhook; s = load_settings(); setup_logging(s.log_level); "
    "asyncio.run(run_webhook(s))"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "bot.sqlite3"
    async with run_fake_telegram() as tg, run_panel_simulator(PanelState(api_key=SIM_KEY)) as sim:
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=SIM_KEY,
            DATABASE_URL=f"sqlite+aiosqlite:///{database}",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_PATH="/hook",
            WEBHOOK_LISTEN_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
            INSTANCE_ID="proc-1",
            LOG_LEVEL="INFO",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", RUN_WEBHOOK, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            user = tg.add_user(5001, "Proc")
            await user.send_text("/start")
            await user.wait_for_message(contains="Hello, Proc", timeout=40)
            assert tg.webhook is not None and tg.webhook.url.endswith(f":{port}/hook")
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                assert response.status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 30)
        log = err.decode()
        assert process.returncode == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert tg.token.split(":")[1] not in log
        assert "released by proc-1" in log
        assert tg.stats.calls["deleteWebhook"] == 0  # other instances may still serve the URL
        tg.assert_no_violations()
    with sqlite3.connect(database) as db:
        holder, expires_at = db.execute("SELECT holder, expires_at FROM leases").fetchone()
    assert holder == "proc-1"
    assert datetime.fromisoformat(expires_at).replace(tzinfo=UTC) <= datetime.now(UTC)  # released
