"""`smmbot check`: every misconfiguration gets its own clear line, secrets never show, exit 0 only when all is well."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.check import mask_url, run_check
from bot.cli import main
from bot.config import Settings
from sandbox.demo.environment import SandboxServers, sandbox_servers

SECRETS = ("TEST-TOKEN", "demo-panel-key", "s3cret-pw")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no setting from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def servers() -> AsyncIterator[SandboxServers]:
    async with sandbox_servers(tick_seconds=None) as servers:
        yield servers


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def good_settings(servers: SandboxServers, tmp_path: Path) -> dict[str, Any]:
    return {
        "bot_token": servers.telegram.token,
        "telegram_api_url": servers.telegram.base_url,
        "panel_api_url": servers.panel.url,
        "panel_api_key": servers.panel_key,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'shop.sqlite3'}",
    }


async def check(offline: bool = False, **values: Any) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await run_check(offline=offline, out=lines.append, _env_file=None, **values)
    text = "\n".join(lines)
    for secret in SECRETS:
        assert secret not in text
    return code, lines


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[FAIL]")]


async def test_all_ok(servers: SandboxServers, tmp_path: Path) -> None:
    values = good_settings(servers, tmp_path)
    code, lines = await check(**values)
    assert code == 0, lines
    assert "created at start-up" in lines[1]  # no database file yet: the folder is writable, fine
    assert not (tmp_path / "data").exists()  # ...and the check did not create it
    assert lines[2] == f"[ OK ] panel: {servers.panel.url} answers; balance 1000.0000 USD"
    assert (
        lines[3]
        == f"[ OK ] Telegram: @storefront_test_bot (Storefront Test Bot) via {servers.telegram.base_url}"
    )
    assert lines[-1] == "All checks passed."

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shop.sqlite3").touch()
    code, lines = await check(**values)
    assert code == 0
    assert lines[1] == f"[ OK ] database: {values['database_url']} answers"


async def test_missing_settings_each_named_once() -> None:
    code, lines = await check()
    assert code == 1
    assert failures(lines) == [
        "[FAIL] Configuration error: BOT_TOKEN is not set",
        "[FAIL] Configuration error: PANEL_API_URL is not set",
        "[FAIL] Configuration error: PANEL_API_KEY is not set",
    ]


def copy_env_example(folder: Path) -> Path:
    env = folder / ".env"
    env.write_text((Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8"))
    return env


async def test_a_fresh_copy_of_env_example_says_what_to_fill_in(tmp_path: Path) -> None:
    """`cp .env.example .env` then `make run` before filling it in: each empty setting is named
    as empty, not as malformed."""
    lines: list[str] = []
    assert await run_check(offline=True, out=lines.append, _env_file=copy_env_example(tmp_path)) == 1
    assert failures(lines) == [
        "[FAIL] Configuration error: BOT_TOKEN: is empty; paste the token @BotFather gave your bot (/newbot)",
        "[FAIL] Configuration error: PANEL_API_URL: is empty; set it to an http:// or https:// URL",
        "[FAIL] Configuration error: PANEL_API_KEY: is empty; copy the key from your panel (Account -> API)",
    ]


def test_missing_settings_through_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] Configuration error: BOT_TOKEN is not set" in out.splitlines()
    assert "Traceback" not in out


async def test_bad_token(servers: SandboxServers, tmp_path: Path) -> None:
    code, lines = await check(**{**good_settings(servers, tmp_path), "bot_token": "999:WRONG-TOKEN"})
    assert code == 1
    assert failures(lines) == [
        "[FAIL] Telegram: BOT_TOKEN was rejected (401 Unauthorized); copy it again from @BotFather"
    ]
    assert "WRONG-TOKEN" not in "\n".join(lines)


async def test_a_token_with_a_space_is_a_configuration_error_not_a_traceback(
    servers: SandboxServers, tmp_path: Path
) -> None:
    code, lines = await check(**{**good_settings(servers, tmp_path), "bot_token": "999:PASTED twice"})
    assert code == 1
    assert failures(lines) == [
        "[FAIL] Configuration error: BOT_TOKEN: must look like 123456:ABC... (the token BotFather gives)"
    ]
    assert "PASTED" not in "\n".join(lines)


async def test_telegram_unreachable(servers: SandboxServers, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, lines = await check(**{**good_settings(servers, tmp_path), "telegram_api_url": url})
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(f"[FAIL] Telegram: cannot reach TELEGRAM_API_URL {url} (")


async def test_wrong_panel_url(servers: SandboxServers, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/v2"
    code, lines = await check(**{**good_settings(servers, tmp_path), "panel_api_url": url})
    assert code == 1
    assert failures(lines) == [f"[FAIL] panel: cannot reach PANEL_API_URL {url} (connection failed)"]


async def test_panel_url_that_is_not_an_api(servers: SandboxServers, tmp_path: Path) -> None:
    url = servers.panel.url.replace("/api/v3", "/not-the-api")
    code, lines = await check(**{**good_settings(servers, tmp_path), "panel_api_url": url})
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(f"[FAIL] panel: PANEL_API_URL {url} does not answer like a panel API (")


async def test_wrong_panel_key(servers: SandboxServers, tmp_path: Path) -> None:
    code, lines = await check(**{**good_settings(servers, tmp_path), "panel_api_key": "s3cret-pw"})
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(f"[FAIL] panel: the panel at {servers.panel.url} refused PANEL_API_KEY (")


async def test_unreachable_database_password_masked(servers: SandboxServers, tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody:s3cret-pw@127.0.0.1:1/x"
    code, lines = await check(**{**good_settings(servers, tmp_path), "database_url": url})
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(
        "[FAIL] database: cannot connect to postgresql+asyncpg://nobody:***@127.0.0.1:1/x ("
    )


async def test_unreachable_redis(servers: SandboxServers, tmp_path: Path) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{closed_port()}/0"
    code, lines = await check(**{**good_settings(servers, tmp_path), "redis_url": url})
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(f"[FAIL] redis: cannot reach REDIS_URL {mask_url(url)} (")


async def test_every_problem_on_its_own_line(servers: SandboxServers, tmp_path: Path) -> None:
    values = {
        **good_settings(servers, tmp_path),
        "bot_token": "999:WRONG-TOKEN",
        "panel_api_key": "wrong-key",
        "database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/x",
    }
    code, lines = await check(**values)
    assert code == 1
    assert [line.split(":")[0] for line in failures(lines)] == [
        "[FAIL] database",
        "[FAIL] panel",
        "[FAIL] Telegram",
    ]
    assert lines[-1] == "3 problems found."


async def test_offline_contacts_neither_panel_nor_telegram(servers: SandboxServers, tmp_path: Path) -> None:
    code, lines = await check(offline=True, **{**good_settings(servers, tmp_path), "bot_token": "9:X"})
    assert code == 0, lines
    assert lines[-2] == "[SKIP] panel, Telegram: not contacted (--offline)"
    assert servers.state.count("balance") == 0
    assert servers.telegram.stats.calls["getMe"] == 0


def test_mask_url() -> None:
    assert (
        mask_url("postgresql+asyncpg://bot:p%40ss@db:5432/shop")
        == "postgresql+asyncpg://bot:***@db:5432/shop"
    )
    assert mask_url("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"
    assert (
        mask_url("sqlite+aiosqlite:///./data/smmbot.sqlite3") == "sqlite+aiosqlite:///./data/smmbot.sqlite3"
    )
    assert mask_url("postgresql://bot@db/shop") == "postgresql://bot@db/shop"


async def test_payment_methods_are_checked(servers: SandboxServers, tmp_path: Path) -> None:
    values = {
        **good_settings(servers, tmp_path),
        "stars_rate": "0.013",
        "topup_max": "100",
        "crypto_pay_token": servers.cryptopay.token,
        "crypto_pay_api_url": servers.cryptopay.url,
    }
    code, lines = await check(**values)
    assert code == 0, lines
    assert "[ OK ] Telegram Stars: 1 Star = 0.013 USD; a top-up of 100 USD is 7693 Stars" in "\n".join(lines)
    crypto = next(line for line in lines if "Crypto Pay" in line)
    assert (
        crypto.startswith("[ OK ]") and "Storefront (simulated)" in crypto and "polling every 20s" in crypto
    )
    assert servers.cryptopay.token not in "\n".join(lines)

    code, lines = await check(**{**values, "crypto_pay_token": "4242:wrong"})
    assert code == 1
    assert failures(lines) == [
        f"[FAIL] Crypto Pay: CRYPTO_PAY_TOKEN was rejected by {servers.cryptopay.url} (UNAUTHORIZED (401))"
    ]
    assert "4242:wrong" not in "\n".join(lines)

    code, lines = await check(**{**values, "crypto_pay_api_url": f"http://127.0.0.1:{closed_port()}/api"})
    assert code == 1 and "cannot reach CRYPTO_PAY_API_URL" in failures(lines)[0]

    code, lines = await check(**{**values, "currency": "XYZ"})
    # (the panel's USD balance fails too now: a shop selling in XYZ would sell its USD as XYZ)
    assert code == 1 and any(
        "CURRENCY XYZ is not one Crypto Pay invoices can be in" in f for f in failures(lines)
    )

    code, lines = await check(**{**values, "topup_max": "200"})
    assert code == 0 and "[WARN] Telegram Stars" in "\n".join(lines) and "15385 Stars" in "\n".join(lines)

    code, lines = await check(offline=True, **values)
    assert "[SKIP] Crypto Pay: not contacted (--offline)" in lines

    code, lines = await check(**good_settings(servers, tmp_path))
    assert "[SKIP] top-ups: no payment method configured" in "\n".join(lines)
