"""aiogram FSM storage on our own database, so a user mid-form continues after a restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord


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
        async with self.session_factory.begin() as session:
            record = await session.get(FsmRecord, self._key(key))
            state = values.get("state", None if record is None else record.state)
            data = values.get("data", {} if record is None else record.data)
            if state is None and not data:
                if record is not None:
                    await session.delete(record)
                return
            if record is None:
                session.add(FsmRecord(key=self._key(key), state=state, data=data))
            else:
                record.state = state
                record.data = data

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._upsert(key, state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.session_factory() as session:
            record = await session.get(FsmRecord, self._key(key))
            return None if record is None else record.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._upsert(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.session_factory() as session:
            record = await session.get(FsmRecord, self._key(key))
            return {} if record is None else dict(record.data)

    async def close(self) -> None:
        """The engine belongs to the application, which disposes it."""
