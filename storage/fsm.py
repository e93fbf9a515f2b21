"""aiogram FSM storage on our own database, so a user mid-form continues after a restart.

State and data of a conversation live in one row of `fsm_records`, so this storage reads and
writes them as one record (`get_record` / `set_record`): one SELECT, and one UPSERT (or DELETE
when the record holds neither state nor data). bot/telegram/conversation.py uses those two for
every update: at most one read and one write per update, however many pieces the handlers change
(bench/RESULTS.md measures it). The per-part methods of aiogram's `BaseStorage` work too, each on
its own.

With `remember=True` (one process owns the database: the SQLite set-up) the storage also keeps
what it last read or wrote for each key, so a known user's state costs no read at all. Several
processes sharing PostgreSQL without Redis must not use it: another instance could have moved the
conversation on meanwhile.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any, cast

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import read_connection, write_connection
from storage.memory import Memory
from storage.models import FsmRecord, utcnow

# (state, data) as stored; (None, {}) is no record at all.
Record = tuple[str | None, dict[str, Any]]
REMEMBERED_KEYS = 20_000  # process memory of conversation records, least recently used dropped first


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
        remember: bool = False,
    ):
        self.session_factory = session_factory
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        self.remember = remember
        self.remembered: Memory[str, Record] = Memory(REMEMBERED_KEYS)

    async def get_record(self, key: StorageKey) -> Record:
        """State and data of a key in one read (none when remembered); the caller owns the copy."""
        name = self.key_builder.build(key)
        if self.remember:
            remembered = self.remembered.get(name, None)
            if remembered is not None:
                return copy.deepcopy(remembered)
        async with read_connection(self.session_factory) as connection:
            row = (await connection.execute(_SELECT, {"key": name})).first()
        found: Record = (None, {}) if row is None else (row[0], dict(row[1] or {}))
        if self.remember:
            self.remembered.put(name, copy.deepcopy(found))
        return found

    async def set_record(self, key: StorageKey, state: str | None, data: Mapping[str, Any]) -> None:
        """One statement: UPSERT the record, or DELETE it when it holds neither state nor data."""
        name = self.key_builder.build(key)
        async with write_connection(self.session_factory) as connection:
            if state is None and not data:
                await connection.execute(_DELETE, {"key": name})
            else:
                statement = _upsert_statement(connection.dialect.name)
                await connection.execute(
                    statement, {"key": name, "state": state, "data": dict(data), "now": utcnow()}
                )
        if self.remember:
            self.remembered.put(name, (state, copy.deepcopy(dict(data))))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        current, data = await self.get_record(key)
        if _state_name(state) != current:
            await self.set_record(key, _state_name(state), data)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self.get_record(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        state, current = await self.get_record(key)
        if dict(data) != current:
            await self.set_record(key, state, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self.get_record(key))[1]

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
