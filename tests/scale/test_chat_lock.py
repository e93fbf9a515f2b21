"""The per-chat lock and conversation state on Redis (storage/redis_fsm.py): a lock whose holder
died is free within seconds, a live holder keeps it, state and the processed mark are written
together, and the lock plus the state read cost one command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from storage.redis_fsm import (
    RedisConversations,
    create_redis,
    current_update_id,
    held_conversation,
)
from tests.scale.conftest import REDIS_URL, redis_unavailable_reason

REPO = Path(__file__).resolve().parents[2]
KEY = StorageKey(bot_id=1, chat_id=77, user_id=77)

HOLD_AND_HANG = """
import asyncio, sys
from aiogram.fsm.storage.base import StorageKey
from storage.redis_fsm import RedisConversations, create_redis

async def main():
    conv = RedisConversations(create_redis(sys.argv[1], max_connections=4, timeout=5), lock_seconds=1.0)
    async with conv.lock(StorageKey(bot_id=1, chat_id=77, user_id=77)):
        await conv.set_state(StorageKey(bot_id=1, chat_id=77, user_id=77), "Form:dead")
        print("locked", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
async def conversations() -> AsyncIterator[RedisConversations]:
    reason = await redis_unavailable_reason()
    if reason:
        pytest.skip(reason)
    conv = RedisConversations(create_redis(REDIS_URL, max_connections=8, timeout=5), lock_seconds=1.0)
    try:
        yield conv
    finally:
        await conv.close()


async def test_a_lock_whose_process_was_killed_is_free_within_its_short_life(
    conversations: RedisConversations,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_AND_HANG,
        REDIS_URL,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 180)).strip() == b"locked"
        await asyncio.sleep(2.5)  # alive: it keeps extending its 1 s lock
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5), conversations.lock(KEY):
                pass
        process.send_signal(signal.SIGKILL)  # no clean-up of any kind
        await process.wait()
        started = time.monotonic()
        async with conversations.lock(KEY):
            waited = time.monotonic() - started
            # Untracked (polling), its change was written at once, before it died.
            assert await conversations.get_state(KEY) == "Form:dead"
        assert waited < 1.5  # the lock's life (1 s) plus a poll
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_state_and_processed_mark_are_written_when_the_lock_is_released(
    conversations: RedisConversations,
) -> None:
    token = current_update_id.set(501)
    try:
        async with conversations.lock(KEY):
            held = held_conversation()
            assert held is not None and held.update_id == 501 and not held.processed
            held.track()  # what bot.coordination.UpdateDedupMiddleware does in webhook mode
            await conversations.set_state(KEY, "Form:link")
            await conversations.update_data(KEY, {"service": 1})
            # Not written yet: kept for the update.
            assert await conversations.redis.get(conversations.record_key(KEY)) is None
            held.mark_processed()
        assert held_conversation() is None
        assert await conversations.get_state(KEY) == "Form:link"
        assert await conversations.get_data(KEY) == {"service": 1}
        async with conversations.lock(KEY):  # the same update delivered again
            again = held_conversation()
            assert again is not None and again.processed
    finally:
        current_update_id.reset(token)


async def test_state_is_written_at_once_in_polling_mode(
    conversations: RedisConversations,
) -> None:
    async with conversations.lock(KEY):
        await conversations.set_state(KEY, "Form:quantity")
        assert b"Form:quantity" in await conversations.redis.get(conversations.record_key(KEY))
        await conversations.set_state(KEY, None)
    assert await conversations.get_state(KEY) is None


async def test_a_tracked_update_killed_after_answering_is_replayed_from_the_same_state(
    conversations: RedisConversations,
) -> None:
    token = current_update_id.set(503)
    try:
        with pytest.raises(RuntimeError):
            async with conversations.lock(KEY):
                held = held_conversation()
                assert held is not None
                held.track()
                await conversations.set_state(KEY, "Form:quantity")
                assert await conversations.redis.get(conversations.record_key(KEY)) is None
                raise RuntimeError("cut short after answering")
        async with conversations.lock(KEY):  # redelivered
            again = held_conversation()
            assert again is not None and not again.processed
    finally:
        current_update_id.reset(token)


async def test_an_update_cut_short_leaves_no_mark(conversations: RedisConversations) -> None:
    token = current_update_id.set(502)
    try:
        with pytest.raises(RuntimeError):
            async with conversations.lock(KEY):
                raise RuntimeError("handler failed")
        async with conversations.lock(KEY):
            held = held_conversation()
            assert held is not None and not held.processed
    finally:
        current_update_id.reset(token)


async def test_many_updates_of_one_chat_take_turns(conversations: RedisConversations) -> None:
    inside = 0
    most = 0

    async def one(n: int) -> None:
        nonlocal inside, most
        async with conversations.lock(KEY):
            inside += 1
            most = max(most, inside)
            await conversations.update_data(KEY, {str(n): n})
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(one(n) for n in range(20)))
    assert most == 1
    assert len(await conversations.get_data(KEY)) == 20  # no lost update of the record


async def test_a_pool_at_its_cap_waits_instead_of_failing() -> None:
    reason = await redis_unavailable_reason()
    if reason:
        pytest.skip(reason)
    client: Redis = create_redis(REDIS_URL, max_connections=3, timeout=10)
    try:
        results = await asyncio.gather(*(client.blpop([f"none-{n}"], timeout=0.2) for n in range(12)))
        assert results == [None] * 12  # twelve at once through three connections, none refused
    finally:
        await client.aclose()
