"""aiogram FSM storage on our own database, so a user mid-form continues after a restart.

Every update reads the conversation record and most of them change it, often in pieces
(`set_state`, then `set_data`, then `update_data`). Done naively that is 3-6 transactions per
update; here it is at most one write per update and, on SQLite, no read at all once the user is
known (bench/RESULTS.md measures it):

* inside an update (`update_scope`, opened by `bot.middlewares.UserMiddleware`) each record is
  read at most once and changes are kept in memory, then saved in one UPSERT (or DELETE) when the
  scope ends or, earlier, just before the bot's next Bot API call (`save_pending`, called by
  `bot.telegram.state_first`): the user never sees an answer whose state is not stored yet;
* with `cache_between_updates=True` (one process owns the database: the SQLite set-up) the storage also keeps
  what it last read or wrote for each key, so a known user's state costs no read at all.
  Several processes sharing PostgreSQL without Redis must not use it: another instance could
  have moved the conversation on meanwhile.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, cast

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from cachetools import LRUCache
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import read_connection, write_connection
from storage.models import FsmRecord, utcnow

# (state, data) as stored, or None for no record (no state and no data).
_Record = tuple[str | None, dict[str, Any]] | None
_UNKNOWN: Final = object()
REMEMBERED_KEYS = 20_000  # process memory of conversation records, least recently used dropped first


class _UpdateCache:
    """What this update knows of each key, and which keys it changed but has not saved yet."""

    def __init__(self) -> None:
        self.records: dict[str, _Record] = {}
        self.saved: dict[str, _Record] = {}  # what the database holds for a key with a pending change
        self.pending: dict[str, SQLAlchemyStorage] = {}
        self.active = True


_update_cache: ContextVar[_UpdateCache | None] = ContextVar("fsm_update_cache", default=None)
# The record the last read outside a scope saw, in this task: aiogram's FSM middleware reads the
# state (under the events-isolation lock) just before our middlewares open the update's scope.
_last_read: ContextVar[tuple[str, _Record] | None] = ContextVar("fsm_last_read", default=None)


@contextlib.asynccontextmanager
async def update_scope(state: FSMContext | None = None) -> AsyncIterator[None]:
    """One update's handling: each record read at most once, its changes saved in one write.

    aiogram's events isolation keeps other updates of the same user out meanwhile. `state` is the
    update's FSMContext: the record aiogram's FSM middleware read for exactly that key just before
    (in this task, under the isolation lock) starts the scope's memory. Pending changes are saved
    when the scope ends, also when the handler failed (what it changed before failing stays, as
    it would have with immediate writes).
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
        try:
            await save_pending()
        finally:
            cache.active = False
            _update_cache.reset(token)


async def save_pending() -> None:
    """Save the current update's changed conversation records now (no-op outside an update)."""
    cache = _scope()
    if cache is None or not cache.pending:
        return
    pending, cache.pending = cache.pending, {}
    for name, storage in pending.items():
        try:
            await storage._save(name, cache.records[name], known=cache.saved.pop(name, _UNKNOWN))
        except BaseException:
            cache.records.pop(name, None)  # not saved: read it again rather than trust memory
            raise


def _scope() -> _UpdateCache | None:
    cache = _update_cache.get()
    return cache if cache is not None and cache.active else None


def _state_name(state: StateType) -> str | None:
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


class SQLAlchemyStorage(BaseStorage):
    """Keeps state and data in the `fsm_records` table; one short Core connection per database call."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        key_builder: KeyBuilder | None = None,
        *,
        cache_between_updates: bool = False,
    ):
        self.session_factory = session_factory
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        self.cache_between_updates = cache_between_updates
        self._remembered: LRUCache[str, _Record] = LRUCache(REMEMBERED_KEYS)

    def _key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    def _recall(self, name: str) -> Any:
        """The remembered record of a key (a copy), or `_UNKNOWN`."""
        found = self._remembered.get(name, _UNKNOWN) if self.cache_between_updates else _UNKNOWN
        return found if found is _UNKNOWN else copy.deepcopy(found)

    def _memorise(self, name: str, record: _Record) -> None:
        if self.cache_between_updates:
            self._remembered[name] = copy.deepcopy(record)

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        """Change state or data; inside an update the write waits for `save_pending`."""
        name = self._key(key)
        cache = _scope()
        if cache is None:
            _last_read.set(None)
            current = self._recall(name)
            if current is _UNKNOWN:
                current = await self._fetch(name)
            await self._save(name, _merge(current, values), known=current)
            return
        if name not in cache.records:
            await self._read(key)
        current = cache.records[name]
        if name not in cache.pending:
            cache.saved[name] = current
            cache.pending[name] = self
        cache.records[name] = _merge(current, values)

    async def _save(self, name: str, record: _Record, *, known: Any) -> None:
        """One statement: UPSERT the record, or DELETE it when it holds neither state nor data."""
        if known is not _UNKNOWN and known == record:
            return
        async with write_connection(self.session_factory) as connection:
            if record is None:
                await connection.execute(_DELETE, {"key": name})
            else:
                state, data = record
                statement = _upsert_statement(connection.dialect.name)
                await connection.execute(
                    statement, {"key": name, "state": state, "data": data, "now": utcnow()}
                )
        self._memorise(name, record)

    async def _fetch(self, name: str) -> _Record:
        async with read_connection(self.session_factory) as connection:
            row = (await connection.execute(_SELECT, {"key": name})).first()
        found = None if row is None else _normal(row[0], dict(row[1] or {}))
        self._memorise(name, found)
        return found

    async def _read(self, key: StorageKey) -> _Record:
        """State and data of a key (remembered for the rest of the update)."""
        name = self._key(key)
        cache = _scope()
        if cache is not None and name in cache.records:
            return copy.deepcopy(cache.records[name])
        found = self._recall(name)
        if found is _UNKNOWN:
            found = await self._fetch(name)
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
        await self._upsert(key, data=copy.deepcopy(dict(data)))

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


_TABLE = cast(Table, FsmRecord.__table__)
_DELETE = delete(_TABLE).where(_TABLE.c.key == bindparam("key"))
_SELECT = select(_TABLE.c.state, _TABLE.c.data).where(_TABLE.c.key == bindparam("key"))


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """Built once per dialect: making `excluded` anew cost more CPU than the write itself."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE).values(  # the table, not the entity: no ORM bulk path
        key=bindparam("key"), state=bindparam("state"), data=bindparam("data"), updated_at=bindparam("now")
    )
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.key],
        set_={"state": excluded.state, "data": excluded.data, "updated_at": excluded.updated_at},
    )


def _normal(state: str | None, data: dict[str, Any]) -> _Record:
    return None if state is None and not data else (state, data)


def _merge(current: _Record, values: Mapping[str, Any]) -> _Record:
    state = values.get("state", None if current is None else current[0])
    data = values.get("data", {} if current is None else current[1])
    return _normal(state, data)
