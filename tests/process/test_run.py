"""`python -m bot` as a real process: starts from the environment, answers, stops on SIGTERM, leaks no secret."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram

PANEL_KEY = "process-panel-key-8c1d2e"


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "PANEL_", "DATABASE_", "REDIS_"))}
    env.update(values)
    return env


async def test_config_errors_are_one_clear_line_each(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=clean_env(POLL_INTERVAL_SECONDS="soon", CURRENCY="dollars"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    text = err.decode()
    assert process.returncode == 1  # as every start-up problem: supervisors see a plain failure
    assert "Traceback" not in text
    for name in ("BOT_TOKEN", "PANEL_API_URL", "PANEL_API_KEY", "POLL_INTERVAL_SECONDS", "CURRENCY"):
        assert sum(name in line for line in text.splitlines()) == 1, text


async def test_python_m_bot_serves_and_stops_cleanly(tmp_path: Path) -> None:
    async with run_fake_telegram() as tg, run_panel_simulator(PanelState(api_key=PANEL_KEY)) as sim:
        env = clean_env(
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.base_url,
            PANEL_API_URL=sim.url,
            PANEL_API_KEY=PANEL_KEY,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
            LOG_LEVEL="DEBUG",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            user = tg.add_user(5001, "Proc")
            await user.send_text("/start")
            welcome = await user.wait_for_message(contains="Hello, Proc", timeout=40)
            assert welcome.buttons
            assert tg.bot_commands()  # the command menu was set at start-up
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 30)
        log = err.decode()
        assert process.returncode == 0, log[-2000:]
        assert "Traceback" not in log
        assert "start-up objects frozen" in log  # bot/runtime.py tuned the collector once started
        assert tg.token not in log and tg.token.split(":")[1] not in log
        assert PANEL_KEY not in log
        tg.assert_no_violations()
