"""Start-up failures are one line, a non-zero exit and no secret; liveness is visible to the check.

Each case printed a 40-100 line traceback (or passed `smmbot check`) before issue #13.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from sandbox.panel_simulator import PanelState, run_panel_simulator
from sandbox.telegram_server import run_fake_telegram
from tests.process.test_run import clean_env

PANEL_KEY = "startup-panel-key-77a1"
TOKEN = "123456:STARTUPsecretTOKENxyz"


async def run_bot(tmp_path: Path, *args: str, timeout: float = 90, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


def assert_one_clear_line(text: str, *expected: str) -> None:
    assert "Traceback" not in text, text[-3000:]
    assert TOKEN not in text and TOKEN.split(":")[1] not in text and PANEL_KEY not in text
    lines = [line for line in text.splitlines() if all(word in line for word in expected)]
    assert len(lines) == 1, text[-3000:]


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {
        "BOT_TOKEN": TOKEN,
        "PANEL_API_URL": "http://127.0.0.1:9/api/v2",
        "PANEL_API_KEY": PANEL_KEY,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.sqlite3'}",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    values.update(extra)
    return values


async def test_a_database_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    env = base_env(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'taken' / 'db' / 'bot.sqlite3'}")
    code, text = await run_bot(tmp_path, "run", **env)
    assert code != 0
    assert_one_clear_line(text, "Start-up error", "is a file, not a folder")
    code, text = await run_bot(tmp_path, "check", "--offline", **env)
    assert code == 1 and "[FAIL] database" in text and "Traceback" not in text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
async def test_an_unwritable_database_is_one_line_and_fails_the_offline_check(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "bot.sqlite3").write_bytes(b"")
    folder.chmod(0o555)
    try:
        env = base_env(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bot.sqlite3'}")
        code, text = await run_bot(tmp_path, "run", **env)
        assert code != 0
        assert_one_clear_line(text, "Start-up error", "not writable")
        code, text = await run_bot(tmp_path, "check", "--offline", **env)
        assert code == 1 and "[FAIL] database" in text and "not writable" in text
    finally:
        folder.chmod(0o755)


async def test_a_sync_database_driver_is_a_configuration_error(tmp_path: Path) -> None:
    env = base_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    code, text = await run_bot(tmp_path, "run", **env)
    assert code != 0
    assert_one_clear_line(text, "DATABASE_URL", "sqlite+aiosqlite")
    code, text = await run_bot(tmp_path, "check", "--offline", **env)
    assert code == 1 and "DATABASE_URL" in text


async def test_an_empty_panel_key_or_a_url_without_host_fails_the_check(tmp_path: Path) -> None:
    env = base_env(tmp_path, PANEL_API_KEY=" ", PANEL_API_URL="https://")
    code, text = await run_bot(tmp_path, "check", "--offline", **env)
    assert code == 1
    assert_one_clear_line(text, "PANEL_API_KEY", "empty")
    assert_one_clear_line(text, "PANEL_API_URL", "host")


async def test_unreachable_telegram_is_one_line(tmp_path: Path) -> None:
    code, text = await run_bot(tmp_path, "run", **base_env(tmp_path))
    assert code != 0
    assert_one_clear_line(text, "Start-up error", "cannot reach Telegram")


async def test_a_rejected_token_is_one_line(tmp_path: Path) -> None:
    async with run_fake_telegram() as tg:
        env = base_env(tmp_path, TELEGRAM_API_URL=tg.base_url)  # TOKEN is not the server's bot
        code, text = await run_bot(tmp_path, "run", **env)
    assert code != 0
    assert_one_clear_line(text, "Start-up error", "rejected BOT_TOKEN")


async def test_a_telegram_url_that_answers_a_web_page_is_one_line(tmp_path: Path) -> None:
    """A TELEGRAM_API_URL that answers HTML (a proxy's error page, a web site) is named as such."""

    async def error_page(request: web.Request) -> web.Response:
        return web.Response(
            status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", error_page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        code, text = await run_bot(
            tmp_path, "run", **base_env(tmp_path, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
        )
    finally:
        await runner.cleanup()
    assert code == 1
    assert_one_clear_line(
        text, "Start-up error", f"TELEGRAM_API_URL http://127.0.0.1:{port} does not answer like a Bot API"
    )


async def test_the_offline_check_sees_a_dead_polling_loop(tmp_path: Path) -> None:
    """The running bot beats; killed, its heartbeat goes stale and the HEALTHCHECK fails."""
    async with run_fake_telegram() as tg, run_panel_simulator(PanelState(api_key=PANEL_KEY)) as sim:
        env = base_env(tmp_path, BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url, PANEL_API_URL=sim.url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=clean_env(**env), stderr=asyncio.subprocess.PIPE
        )
        heartbeat = tmp_path / "data" / "smmbot.heartbeat"
        try:
            deadline = time.monotonic() + 60
            while not heartbeat.exists():
                assert time.monotonic() < deadline, "no heartbeat"
                await asyncio.sleep(0.2)
            code, text = await run_bot(tmp_path, "check", "--offline", **env)
            assert code == 0 and "[ OK ] bot process: alive" in text, text
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        # A loop that stopped turning: the file stays, and ages.
        stale = time.time() - 600
        heartbeat.write_text(f"{stale:.3f}\n")
        code, text = await run_bot(tmp_path, "check", "--offline", **env)
        assert code == 1 and "[FAIL] bot process" in text, text
