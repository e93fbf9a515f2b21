"""Conversation state on our database: survives a restart, one write per update, saved before the
user sees an answer — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods import Response, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.telegram.conversation import ConversationMiddleware, UpdateState
from sandbox.telegram_server import run_fake_telegram
from storage.fsm import SQLAlchemyStorage
from storage.models import FsmRecord

KEY = StorageKey(bot_id=1, chat_id=1001, user_id=1001)


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.split()[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            seen.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def stored_state(factory: async_sessionmaker[AsyncSession]) -> str | None:
    """What the table holds, read past every cache."""
    async with factory() as session:
        record = await session.get(FsmRecord, "fsm:1001:1001:default")
        return None if record is None else record.state


@pytest.mark.parametrize("remember", [False, True])
async def test_state_and_data_survive_a_new_storage(
    session_factory: async_sessionmaker[AsyncSession], remember: bool
) -> None:
    first = SQLAlchemyStorage(session_factory, remember=remember)
    await first.set_state(KEY, "Form:link")
    await first.update_data(KEY, {"service": 7, "values": {"quantity": 100}})
    restarted = SQLAlchemyStorage(session_factory, remember=remember)
    assert await restarted.get_state(KEY) == "Form:link"
    assert await restarted.get_data(KEY) == {"service": 7, "values": {"quantity": 100}}
    await restarted.set_state(KEY, None)
    await restarted.set_data(KEY, {})
    assert await SQLAlchemyStorage(session_factory).get_state(KEY) is None
    assert await SQLAlchemyStorage(session_factory).get_data(KEY) == {}


async def test_one_update_reads_once_and_writes_once(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    update = UpdateState(SQLAlchemyStorage(session_factory))
    state = FSMContext(update, KEY)
    with statements(engine) as seen:
        await state.get_state()
        await state.set_state("Form:link")
        await state.set_data({"service": 7})
        await state.update_data(price="1.50")
        assert await state.get_data() == {"service": 7, "price": "1.50"}
        assert seen == ["SELECT"]  # nothing written yet: the changes wait for the end of the update
        await update.finish()
    assert seen == ["SELECT", "INSERT"]  # one UPSERT for three changes
    assert await SQLAlchemyStorage(session_factory).get_data(KEY) == {"service": 7, "price": "1.50"}


async def test_pending_changes_are_saved_before_an_answer_goes_out(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Through a real dispatcher and bot: what the database holds when the reply reaches Telegram."""
    storage = SQLAlchemyStorage(session_factory)
    conversation = ConversationMiddleware(storage, SimpleEventIsolation())
    dp = Dispatcher(storage=storage, disable_fsm=True)
    dp.update.outer_middleware(conversation)
    at_reply: list[str | None] = []

    @dp.message()
    async def ask(message: Message, state: FSMContext) -> None:
        await state.set_state("Form:quantity")
        await message.answer("How many?")
        await state.clear()  # the update ends without a state: saved when it ends

    async with run_fake_telegram() as tg:
        bot = tg.create_bot()
        bot.session.middleware(conversation.save_before_request)

        async def observe(
            make_request: NextRequestMiddlewareType[TelegramType],
            bot: Bot,
            method: TelegramMethod[TelegramType],
        ) -> Response[TelegramType]:
            if isinstance(method, SendMessage):
                at_reply.append(await stored_state(session_factory))
            return await make_request(bot, method)

        bot.session.middleware(observe)
        async with tg.polling(dp, bot):
            user = tg.add_user(1001, "Ann")
            await user.send_text("hi")
            await user.wait_for_message(contains="How many?")
            await asyncio.sleep(0.1)
        await bot.session.close()
    assert at_reply == ["Form:quantity"]
    assert await stored_state(session_factory) is None


async def test_changes_made_before_a_failure_are_kept(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    update = UpdateState(SQLAlchemyStorage(session_factory))
    with pytest.raises(RuntimeError):
        try:
            await FSMContext(update, KEY).set_state("Form:link")
            raise RuntimeError("handler failed")
        finally:
            await update.finish()  # what ConversationMiddleware does, also when the handler failed
    assert await SQLAlchemyStorage(session_factory).get_state(KEY) == "Form:link"


async def test_unchanged_state_is_not_written(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    storage = SQLAlchemyStorage(session_factory, remember=True)
    await storage.set_state(KEY, "Form:link")
    update = UpdateState(storage)
    state = FSMContext(update, KEY)
    with statements(engine) as seen:
        await state.set_state("Form:quantity")
        await state.set_state("Form:link")  # back where it was
        await update.finish()
        await state.get_data()
    assert seen == []  # remembered, and nothing changed in the end


class CountingStorage(MemoryStorage):
    """aiogram's memory storage, counting the writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        self.writes.append("state")
        await super().set_state(key, state)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        self.writes.append("data")
        await super().set_data(key, data)


async def test_a_storage_keeping_state_and_data_apart_gets_only_what_changed() -> None:
    """Any aiogram storage (Redis in production, its memory storage here): one write per changed part."""
    storage = CountingStorage()
    await storage.set_data(KEY, {"service": 7})
    writes = storage.writes
    writes.clear()
    update = UpdateState(storage)
    state = FSMContext(update, KEY)
    await state.set_state("Form:link")
    await state.set_state("Form:quantity")
    assert await state.get_data() == {"service": 7}
    assert writes == []
    await update.finish()
    assert writes == ["state"]  # data was read, never changed
    assert await storage.get_state(KEY) == "Form:quantity"
    assert await storage.get_data(KEY) == {"service": 7}
    await state.update_data(link="x")  # after the update: straight through
    assert writes == ["state", "data"]


async def test_remembered_records_are_copies(session_factory: async_sessionmaker[AsyncSession]) -> None:
    storage = SQLAlchemyStorage(session_factory, remember=True)
    await storage.set_data(KEY, {"values": {"link": "https://x.test/a"}})
    data = await storage.get_data(KEY)
    data["values"]["link"] = "mutated by a handler"
    assert (await storage.get_data(KEY))["values"]["link"] == "https://x.test/a"
