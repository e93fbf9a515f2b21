"""A burst of 1,000 simultaneous `/start` to one instance with Redis is answered in full (issue #16):
updates beyond MAX_UPDATES_IN_FLIGHT wait for a slot, Redis commands wait for a pooled connection
instead of failing with MaxConnectionsError (redis-py's default pool did, at 100)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from bot.webhook import SECRET_HEADER, webhook_secret
from sandbox.panel_simulator import SimulatorHandle
from sandbox.telegram_server import FakeTelegramServer
from tests.scale.conftest import Instance, scale_settings, sqlite_url

BURST = 1000
FIRST_USER = 700_000
PATH = "/telegram/webhook"


def start_update(update_id: int, user_id: int) -> bytes:
    person = {"id": user_id, "is_bot": False, "first_name": f"B{user_id}", "language_code": "en"}
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": person["first_name"]},
                "from": person,
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
    ).encode()


@pytest.mark.timeout(300)
async def test_a_burst_of_a_thousand_starts_on_sqlite_and_redis(
    servers: tuple[FakeTelegramServer, SimulatorHandle], redis_url: str, tmp_path: Path
) -> None:
    await burst(*servers, sqlite_url(tmp_path), redis_url)


@pytest.mark.timeout(300)
async def test_a_burst_of_a_thousand_starts_on_postgresql_and_redis(
    servers: tuple[FakeTelegramServer, SimulatorHandle], pg_url: str, redis_url: str
) -> None:
    await burst(*servers, pg_url, redis_url)


async def burst(tg: FakeTelegramServer, sim: SimulatorHandle, database_url: str, redis_url: str) -> None:
    settings = scale_settings(
        tg, sim, database_url, redis_url=redis_url, webhook_url="http://127.0.0.1:1" + PATH, lease_seconds=60
    )
    node = await Instance(settings).start()
    try:
        users = [tg.add_user(FIRST_USER + n, f"B{FIRST_USER + n}") for n in range(BURST)]
        headers = {"Content-Type": "application/json", SECRET_HEADER: webhook_secret(settings)}
        connector = aiohttp.TCPConnector(limit=0)  # all 1,000 requests open at once
        timeout = aiohttp.ClientTimeout(total=240)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def deliver(n: int) -> int:
                body = start_update(10_000_000 + n, FIRST_USER + n)
                async with session.post(node.url + PATH, data=body, headers=headers) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(deliver(n) for n in range(BURST)))
        assert statuses == [200] * BURST  # answered after processing: every one of them processed
        unanswered = [user.id for user in users if not any("Hello" in m.text for m in user.messages)]
        assert unanswered == []
        assert not any("Something went wrong" in m.text for user in users for m in user.messages)
    finally:
        await node.close()
