"""aiogram FSM storage on our own database, so a user mid-form continues after a restart."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord


class _UpdateCache:
    """What this update already knows of each key: (state, data) as stored, or None for no record."""

    def __init__(self) -> None:
        self.records: dict[str, _Record] = {}
        self.active = True


_Record = tuple[str | None, dict[str, Any]] | None
_update_cache: ContextVar[_UpdateCache | None] = ContextVar("fsm_update_cache", default=None)
# The record the last read outside a scope saw, in this task: aiogram's FSM middleware reads the
# state (under the events-isolation lock) just before our middlewares open the update's scope.
_last_read: ContextVar[tuple[str, _Record] | None] = ContextVar("fsm_last_read", default=None)


@contextlib.contextmanager
def update_scope(state: FSMContext | None = None) -> Iterator[None]:
    """Within one update's handling, read each conversation record at most once.

    The handlers of one update call get_state, get_data, set_state and update_data several times
    on the same key (each a database transaction before); inside this scope the storage remembers
    what it read or wrote for the rest of the update and skips writes that change nothing.
    aiogram's events isolation keeps other updates of the same user out meanwhile. Opened by
    `bot.middlewares.UserMiddleware` around the handler; outside a scope nothing is remembered.

    `state` is the update's FSMContext: the record aiogram's FSM middleware read for exactly that
    key just before (in this task, under the isolation lock) starts the scope's memory.
    """
    cache = _UpdateCache()
    pending = _last_read.get()
    _last_read.set(None)
    if (
        pending is not None
        and state is not None
        and isinstance(state.storage, SQLAlchemyStorage)
        and pending[0] == state.storage._key(state.key)
    ):
        cache.records[pending[0]] = pending[1]
    token = _update_cache.set(cache)
    try:
        yield
    finally:
        cache.active = False
        _update_cache.reset(token)


def _scope() -> _UpdateCache | None:
    cache = _update_cache.get()
    return cache if cache is not None and cache.active else None


def _state_name(state: StateType) -> str | None:
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


class SQLAlchemyStorage(BaseStorage):
    """Keeps state and data in the `fsm_records` table; one short session per call."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ):
        self.session_factory = session_factory
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        """Write state or data; a record with neither is removed so the table stays small."""
        name = self._key(key)
        cache = _scope()
        if cache is not None and name in cache.records:
            known = cache.records[name]
            state = values.get("state", None if known is None else known[0])
            data = values.get("data", {} if known is None else known[1])
            if (known is None and state is None and not data) or known == (state, data):
                return  # nothing changes
        else:
            _last_read.set(None)
        async with self.session_factory.begin() as session:
            record = await session.get(FsmRecord, name)
            state = values.get("state", None if record is None else record.state)
            data = values.get("data", {} if record is None else record.data)
            if state is None and not data:
                if record is not None:
                    await session.delete(record)
                stored: _Record = None
            elif record is None:
                session.add(FsmRecord(key=name, state=state, data=data))
                stored = (state, data)
            else:
                record.state = state
                record.data = data
                stored = (state, data)
        if cache is not None:
            cache.records[name] = copy.deepcopy(stored)

    async def _read(self, key: StorageKey) -> _Record:
        """State and data of a key in one query (remembered for the rest of the update)."""
        name = self._key(key)
        cache = _scope()
        if cache is not None and name in cache.records:
            return copy.deepcopy(cache.records[name])
        async with self.session_factory() as session:
            row = (
                await session.execute(select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == name))
            ).first()
        found = None if row is None else (row[0], dict(row[1] or {}))
        if cache is not None:
            cache.records[name] = copy.deepcopy(found)
        else:
            _last_read.set((name, copy.deepcopy(found)))
        return found

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._upsert(key, state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        found = await self._read(key)
        return None if found is None else found[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._upsert(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        found = await self._read(key)
        return {} if found is None else dict(found[1])

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        current = await self.get_data(key)
        current.update(data)
        await self.set_data(key, current)
        return current.copy()

    async def close(self) -> None:
        """The engine belongs to the application, which disposes it."""
