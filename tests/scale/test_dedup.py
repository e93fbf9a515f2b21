"""Update de-duplication: a redelivered update is skipped before any handler; a failed one is not
remembered as processed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.coordination import UpdateDedupMiddleware, prune_processed_updates
from storage.models import utcnow
from storage.repositories.coordination import ProcessedUpdateRepository


def message_update(update_id: int, text: str = "hi") -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": 1001, "type": "private", "first_name": "Ann"},
                "from": {"id": 1001, "is_bot": False, "first_name": "Ann"},
                "text": text,
            },
        }
    )


async def test_mark_forget_prune(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory.begin() as session:
        repo = ProcessedUpdateRepository(session)
        assert await repo.mark(7) is True
        assert await repo.mark(7) is False
        assert await repo.mark(2**40) is True  # update ids are 64-bit
        await repo.forget(7)
        assert await repo.mark(7) is True
        assert await repo.mark(8, now=utcnow() - timedelta(days=3)) is True
    assert await prune_processed_updates(session_factory) == 1
    async with session_factory() as session:
        repo = ProcessedUpdateRepository(session)
        assert not await repo.seen(8)
        assert await repo.seen(7) and await repo.seen(2**40)


@pytest.fixture
def bot() -> Bot:
    return Bot("123456:TEST-TOKEN-NOT-USED")  # the handlers below never call Telegram


def dispatcher(
    session_factory: async_sessionmaker[AsyncSession],
    runs: list[str],
    *,
    fail: bool = False,
    in_memory: bool = False,
) -> Dispatcher:
    dp = Dispatcher()
    dp.update.outer_middleware(UpdateDedupMiddleware(session_factory, in_memory=in_memory))

    @dp.message()
    async def handle(message: Message) -> None:
        runs.append(message.text or "")
        await asyncio.sleep(0.05)
        if fail and len(runs) == 1:
            raise RuntimeError("handler crashed")

    return dp


async def test_same_update_twice_runs_the_handler_once(
    session_factory: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    runs: list[str] = []
    dp = dispatcher(session_factory, runs)
    other = dispatcher(session_factory, runs)  # a second instance on the same database
    update = message_update(41)
    await asyncio.gather(dp.feed_update(bot, update), other.feed_update(bot, update))
    await dp.feed_update(bot, update)
    assert runs == ["hi"]
    await other.feed_update(bot, message_update(42, "next"))
    assert runs == ["hi", "next"]


async def test_a_crashed_update_is_not_remembered(
    session_factory: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    runs: list[str] = []
    dp = dispatcher(session_factory, runs, fail=True)
    update = message_update(50)
    with pytest.raises(RuntimeError):
        await dp.feed_update(bot, update)
    async with session_factory() as session:
        assert not await ProcessedUpdateRepository(session).seen(50)
    result: Any = await dp.feed_update(bot, update)  # redelivered: processed this time
    del result
    assert runs == ["hi", "hi"]
    async with session_factory() as session:
        assert await ProcessedUpdateRepository(session).seen(50)


async def test_one_process_on_sqlite_remembers_updates_without_writing(
    session_factory: async_sessionmaker[AsyncSession], bot: Bot
) -> None:
    runs: list[str] = []
    dp = dispatcher(session_factory, runs, fail=True, in_memory=True)
    with pytest.raises(RuntimeError):
        await dp.feed_update(bot, message_update(60))
    await asyncio.gather(dp.feed_update(bot, message_update(60)), dp.feed_update(bot, message_update(60)))
    await dp.feed_update(bot, message_update(60))
    assert runs == ["hi", "hi"]  # the crashed delivery was retried once, the rest skipped
    async with session_factory() as session:
        assert not await ProcessedUpdateRepository(session).seen(60)  # no write per update
