"""With REDIS_URL set, conversation state lives in Redis and survives a restart too."""

from __future__ import annotations

import os

import pytest

from tests.conftest import redis_test_url
from tests.e2e.conftest import Shop

REDIS_URL = os.environ.get("TEST_REDIS_URL", redis_test_url(15))


async def redis_unavailable_reason() -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
        await client.flushdb()
        return None
    except Exception as error:
        return f"Redis not reachable at {REDIS_URL} ({type(error).__name__})"
    finally:
        await client.aclose()


async def test_form_survives_restart_on_redis(shop: Shop) -> None:
    reason = await redis_unavailable_reason()
    if reason:
        pytest.skip(reason)
    await shop.restart(redis_url=REDIS_URL)
    assert type(shop.app.dispatcher.fsm.storage).__name__ == "RedisConversations"  # type: ignore[union-attr]
    ann = shop.user(1001, "Ann")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await shop.restart()
    await ann.send_text("700")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Quantity: 700" in summary.text
