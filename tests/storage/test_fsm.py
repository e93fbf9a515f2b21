"""Conversation state on our database: survives a restart, one write per update, saved before the
user sees an answer — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.fsm import SQLAlchemyStorage, save_pending, update_scope
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
    first = SQLAlchemyStorage(session_factory, cache_between_updates=remember)
    await first.set_state(KEY, "Form:link")
    await first.update_data(KEY, {"service": 7, "values": {"quantity": 100}})
    restarted = SQLAlchemyStorage(session_factory, cache_between_updates=remember)
    assert await restarted.get_state(KEY) == "Form:link"
    assert await restarted.get_data(KEY) == {"service": 7, "values": {"quantity": 100}}
    await restarted.set_state(KEY, None)
    await restarted.set_data(KEY, {})
    assert await SQLAlchemyStorage(session_factory).get_state(KEY) is None
    assert await SQLAlchemyStorage(session_factory).get_data(KEY) == {}


async def test_one_update_reads_once_and_writes_once(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    storage = SQLAlchemyStorage(session_factory)
    state = FSMContext(storage, KEY)
    with statements(engine) as seen:
        async with update_scope(state):
            await state.get_state()
            await state.set_state("Form:link")
            await state.set_data({"service": 7})
            await state.update_data(price="1.50")
            assert await state.get_data() == {"service": 7, "price": "1.50"}
            assert seen == ["SELECT"]  # nothing written yet: the changes wait for the end of the update
    assert seen == ["SELECT", "INSERT"]  # one UPSERT for three changes
    assert await SQLAlchemyStorage(session_factory).get_data(KEY) == {"service": 7, "price": "1.50"}


async def test_pending_changes_are_saved_before_an_answer_goes_out(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    storage = SQLAlchemyStorage(session_factory)
    state = FSMContext(storage, KEY)
    async with update_scope(state):
        await state.set_state("Form:quantity")
        assert await stored_state(session_factory) is None
        await save_pending()  # what the bot's session middleware does before every Bot API call
        assert await stored_state(session_factory) == "Form:quantity"
        await state.clear()
        assert await stored_state(session_factory) == "Form:quantity"
    assert await stored_state(session_factory) is None


async def test_changes_made_before_a_failure_are_kept(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    storage = SQLAlchemyStorage(session_factory)
    state = FSMContext(storage, KEY)
    with pytest.raises(RuntimeError):
        async with update_scope(state):
            await state.set_state("Form:link")
            raise RuntimeError("handler failed")
    assert await SQLAlchemyStorage(session_factory).get_state(KEY) == "Form:link"


async def test_unchanged_state_is_not_written(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    storage = SQLAlchemyStorage(session_factory, cache_between_updates=True)
    await storage.set_state(KEY, "Form:link")
    state = FSMContext(storage, KEY)
    with statements(engine) as seen:
        async with update_scope(state):
            await state.set_state("Form:quantity")
            await state.set_state("Form:link")  # back where it was
        await state.get_data()
    assert seen == []  # remembered, and nothing changed in the end


async def test_remembered_records_are_copies(session_factory: async_sessionmaker[AsyncSession]) -> None:
    storage = SQLAlchemyStorage(session_factory, cache_between_updates=True)
    await storage.set_data(KEY, {"values": {"link": "https://x.test/a"}})
    data = await storage.get_data(KEY)
    data["values"]["link"] = "mutated by a handler"
    assert (await storage.get_data(KEY))["values"]["link"] == "https://x.test/a"
