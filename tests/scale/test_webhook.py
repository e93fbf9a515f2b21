"""Webhook mode of one instance: the secret check, /healthz, setWebhook, graceful shutdown, settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import TelegramObject, Update

from bot.config import ConfigError, load_settings
from bot.webhook import SECRET_HEADER, register, webhook_secret
from sandbox.panel_simulator import SimulatorHandle
from sandbox.telegram_server import FakeTelegramServer
from storage.repositories.coordination import LeaseRepository
from tests.scale.conftest import SIM_KEY, Instance, Runs, scale_settings, sqlite_url

Servers = tuple[FakeTelegramServer, SimulatorHandle]


@pytest.fixture
async def solo(servers: Servers, tmp_path: Path) -> AsyncIterator[tuple[Instance, Runs]]:
    tg, sim = servers
    runs = Runs()
    instance = Instance(scale_settings(tg, sim, sqlite_url(tmp_path), lease_seconds=30), runs)
    await instance.start()
    # Telegram delivers straight to the instance (no load balancer in front).
    settings = instance.settings.model_copy(update={"webhook_url": instance.url + "/telegram/webhook"})
    instance.bot_app.settings = settings
    await register(instance.bot_app)
    try:
        yield instance, runs
    finally:
        await instance.close()
    tg.assert_no_violations()


async def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        return response.status, await response.text()


def start_update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": 1001, "type": "private", "first_name": "Ann"},
            "from": {"id": 1001, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_set_webhook_with_secret_and_used_update_types(
    solo: tuple[Instance, Runs], servers: Servers
) -> None:
    instance, runs = solo
    tg, _ = servers
    assert tg.webhook is not None
    assert tg.webhook.url == instance.url + "/telegram/webhook"
    assert tg.webhook.secret_token == webhook_secret(instance.settings)
    assert tg.allowed_updates == instance.bot_app.dispatcher.resolve_used_update_types()
    ann = tg.add_user(1001, "Ann")
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")
    assert sum(runs.by_update.values()) == 1


async def test_wrong_or_missing_secret_is_refused_and_nothing_runs(
    solo: tuple[Instance, Runs], servers: Servers
) -> None:
    instance, runs = solo
    tg, _ = servers
    ann = tg.add_user(1001, "Ann")
    ann.mark_seen()
    url = instance.url + "/telegram/webhook"
    good = webhook_secret(instance.settings)
    wrong = (
        {},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: good[:-1]},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: "é"},
    )
    for headers in wrong:
        status, _ = await post(url, start_update(777), headers)
        assert status == 401, headers
    await ann.assert_no_new_messages(within=0.5)
    assert not runs.by_update
    # The same update with the right secret is processed (it was not marked as seen above).
    status, _ = await post(url, start_update(777), {SECRET_HEADER: good})
    assert status == 200
    await ann.wait_for_message(contains="Hello, Ann")
    assert runs.by_update == {777: 1}


async def test_healthz_on_sqlite(solo: tuple[Instance, Runs]) -> None:
    instance, _ = solo
    async with aiohttp.ClientSession() as session, session.get(instance.url + "/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}


class TcpProxy:
    """A TCP relay in front of PostgreSQL; `cut()` drops every connection and stops listening."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0.05)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_healthz_reports_a_lost_database(servers: Servers, pg_url: str) -> None:
    tg, sim = servers
    host_port = re.search(r"@([^/:]+):(\d+)/", pg_url)
    assert host_port is not None
    relay = TcpProxy(host_port.group(1), int(host_port.group(2)))
    await relay.start()
    url = pg_url.replace(f"@{host_port.group(1)}:{host_port.group(2)}/", f"@127.0.0.1:{relay.port}/")
    instance = Instance(scale_settings(tg, sim, url, lease_seconds=30))
    await instance.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(instance.url + "/healthz") as response:
                assert (response.status, await response.json()) == (200, {"ok": True})
            await relay.cut()
            async with session.get(instance.url + "/healthz") as response:
                assert (response.status, await response.json()) == (503, {"ok": False})
            await relay.start()  # the database is back (same port)
            async with session.get(instance.url + "/healthz") as response:
                assert response.status == 200
    finally:
        await instance.close()


async def test_graceful_stop_finishes_in_flight_updates_and_releases_the_lease(
    solo: tuple[Instance, Runs], servers: Servers
) -> None:
    instance, _ = solo
    tg, _ = servers
    started = asyncio.Event()

    async def slow(handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            started.set()
            await asyncio.sleep(0.6)
        return await handler(event, data)

    instance.bot_app.dispatcher.update.middleware(slow)
    assert instance.leader.is_leader
    ann = tg.add_user(1001, "Ann")
    await ann.send_text("/start")
    await asyncio.wait_for(started.wait(), 5)
    session_factory = instance.bot_app.session_factory
    await instance.server.stop()  # type: ignore[union-attr]  # what SIGTERM triggers
    welcome = await ann.wait_for_message(contains="Hello, Ann", timeout=0.1)  # sent before the stop ended
    assert welcome is not None
    async with session_factory() as session:
        assert await LeaseRepository(session).current_holder("scheduler") is None  # released
    assert tg.stats.calls["deleteWebhook"] == 0  # the other instances keep serving the URL
    assert tg.webhook is not None


def test_derived_secret_is_stable_and_valid(servers: Servers) -> None:
    tg, sim = servers
    one = scale_settings(tg, sim, "sqlite+aiosqlite:///x.sqlite3", instance_id="a")
    two = scale_settings(tg, sim, "sqlite+aiosqlite:///y.sqlite3", instance_id="b")
    assert webhook_secret(one) == webhook_secret(two)  # every instance of the bot agrees
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret(one))
    assert tg.token.split(":")[1] not in webhook_secret(one)
    other = scale_settings(tg, sim, "sqlite+aiosqlite:///x.sqlite3", bot_token="42:ANOTHER-token")
    assert webhook_secret(other) != webhook_secret(one)
    explicit = scale_settings(tg, sim, "sqlite+aiosqlite:///x.sqlite3", webhook_secret="my_Secret-1")
    assert webhook_secret(explicit) == "my_Secret-1"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("webhook_url", "ftp://x", "WEBHOOK_URL"),
        ("webhook_secret", "has space", "WEBHOOK_SECRET"),
        ("webhook_secret", "x" * 257, "WEBHOOK_SECRET"),
        ("webhook_path", "telegram", "WEBHOOK_PATH"),
        ("webhook_port", "70000", "WEBHOOK_PORT"),
        ("lease_seconds", "0", "LEASE_SECONDS"),
        ("instance_id", "x" * 65, "INSTANCE_ID"),
    ],
)
def test_bad_scale_out_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(
            _env_file=None, bot_token="1:x", panel_api_url="http://p", panel_api_key="k", **{name: value}
        )
    assert message in str(error.value)
    if name == "webhook_secret":
        assert value not in str(error.value)  # secrets are never echoed


def test_scale_out_defaults() -> None:
    settings = load_settings(_env_file=None, bot_token="1:x", panel_api_url="http://p", panel_api_key=SIM_KEY)
    assert settings.webhook_url is None and not settings.webhook_enabled
    assert settings.webhook_path == "/telegram/webhook"
    assert (settings.webhook_listen_host, settings.webhook_port) == ("0.0.0.0", 8080)
    assert settings.lease_seconds == 30
    assert re.fullmatch(r".+-\d+", settings.instance_id)
    assert settings.webhook_secret is None
    json.dumps(settings.instance_id)
