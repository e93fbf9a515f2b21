"""Conversation state: the one component that reads and writes it for an update.

`ConversationMiddleware` takes aiogram's place as the dispatcher's FSM middleware (bot/app.py
`create_dispatcher` registers it, with `disable_fsm=True` for the stock one). For each update, under
the events-isolation lock (other updates of the same user wait), it gives the handlers an
`FSMContext` over an `UpdateState`: each conversation record is read from the real storage at most
once, changes stay in memory, and they are written once:

* just before the bot's next Bot API call (`ConversationMiddleware.save_before_request`, a session
  middleware), so a reply never reaches the user while the state it belongs to exists only in
  this process: if the bot stops right after answering, the next message finds the form where the
  answer left it;
* when the update ends, also when the handler failed (what it changed before failing stays, as it
  would have with immediate writes).

A storage that holds state and data in one record (`storage.fsm.SQLAlchemyStorage`) is read and
written in one statement each; any other aiogram storage (Redis) through its own get/set calls,
only for the parts that changed. Unchanged state costs no write at all.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject

from storage.fsm import SQLAlchemyStorage

if TYPE_CHECKING:
    from aiogram import Bot

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
_NOT_READ: Final[Any] = object()

# The update being handled in this task (and the tasks it starts), for the session middleware.
_current: ContextVar[UpdateState | None] = ContextVar("conversation_update_state", default=None)


def state_name(state: StateType) -> str | None:
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


@dataclass
class _Entry:
    """One key's record as this update sees it, and as the storage holds it. The dicts are never
    changed in place (handlers get copies), so `data is stored_data` until a handler sets data."""

    state: str | None
    data: dict[str, Any]  # `_NOT_READ` until first needed (storages that keep data apart)
    stored_state: str | None
    stored_data: dict[str, Any]


class UpdateState(BaseStorage):
    """The conversation records of one update: each read at most once, changes written by `save`.

    Once the update has ended (`finish`), it reads and writes straight through to the storage, so
    a task the update left running never loses a change.
    """

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage
        self.entries: dict[StorageKey, _Entry] = {}
        self.open = True

    async def _entry(self, key: StorageKey) -> _Entry:
        entry = self.entries.get(key)
        if entry is not None:
            return entry
        if isinstance(self.storage, SQLAlchemyStorage):
            state, data = await self.storage.get_record(key)
            entry = _Entry(state, data, state, data)  # never changed in place: only replaced
        else:
            state = await self.storage.get_state(key)
            entry = _Entry(state, _NOT_READ, state, _NOT_READ)
        self.entries[key] = entry
        return entry

    async def _data(self, key: StorageKey, entry: _Entry) -> dict[str, Any]:
        if entry.data is _NOT_READ:
            entry.data = entry.stored_data = await self.storage.get_data(key)
        return entry.data

    async def get_state(self, key: StorageKey) -> str | None:
        if not self.open:
            return await self.storage.get_state(key)
        return (await self._entry(key)).state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        if not self.open:
            return await self.storage.get_data(key)
        entry = await self._entry(key)
        return copy.deepcopy(await self._data(key, entry))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        if not self.open:
            await self.storage.set_state(key, state)
            return
        (await self._entry(key)).state = state_name(state)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not self.open:
            await self.storage.set_data(key, data)
            return
        (await self._entry(key)).data = copy.deepcopy(dict(data))

    async def save(self) -> None:
        """Write every changed record now: one statement per record, none when nothing changed."""
        for key, entry in list(self.entries.items()):
            try:
                await self._save(key, entry)
            except BaseException:
                del self.entries[key]  # not saved: read it again rather than trust memory
                raise

    async def _save(self, key: StorageKey, entry: _Entry) -> None:
        data_changed = entry.data is not _NOT_READ and entry.data != entry.stored_data
        if isinstance(self.storage, SQLAlchemyStorage):
            if entry.state != entry.stored_state or data_changed:
                await self.storage.set_record(key, entry.state, entry.data)
        else:
            if entry.state != entry.stored_state:
                await self.storage.set_state(key, entry.state)
            if data_changed:
                await self.storage.set_data(key, entry.data)
        entry.stored_state, entry.stored_data = entry.state, entry.data

    async def finish(self) -> None:
        """The update ended: save what is pending; from now on every call goes straight through."""
        try:
            await self.save()
        finally:
            self.open = False
            self.entries.clear()

    async def close(self) -> None:
        """The storage belongs to the dispatcher, which closes it."""


class ConversationMiddleware(FSMContextMiddleware):
    """The dispatcher's FSM middleware: one `UpdateState` per update (module docstring)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self.resolve_event_context(cast("Bot", data["bot"]), data)
        data["fsm_storage"] = self.storage
        if context is None:
            return await handler(event, data)
        async with self.events_isolation.lock(key=context.key):  # state read after the lock: aiogram#1317
            update_state = UpdateState(self.storage)
            token = _current.set(update_state)
            try:
                state = FSMContext(update_state, context.key)
                data.update(state=state, raw_state=await state.get_state())
                return await handler(event, data)
            finally:
                try:
                    await update_state.finish()
                finally:
                    _current.reset(token)

    async def save_before_request(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """Bot session middleware: the current update's changes are stored before the user sees
        anything of it."""
        update_state = _current.get()
        if update_state is not None and update_state.open:
            await update_state.save()
        return await make_request(bot, method)
