"""Conversation state and the per-chat event lock on Redis, in two commands per update.

aiogram's `RedisStorage` + `RedisEventIsolation` cost 5–6 commands per update (lock, state read,
data read, state and data writes, lock release) and their lock lives 60 s: after a crash every
chat the dead process was serving stayed frozen for up to a minute (issue #16). Here one object is
both the storage and the events isolation:

* **lock + read in one command.** aiogram's FSM middleware takes the chat's lock and reads its
  state first thing in every update; a Lua script does both (`SET lock NX PX ttl`, then `GET` of
  the conversation record, which holds state and data in one JSON value) and, in webhook mode,
  tells whether the update was already processed.
* **a short lock, refreshed while its holder lives.** The lock expires after `lock_seconds`
  (CHAT_LOCK_SECONDS, 3 s by default); a task of the holder extends it every third of that while
  the update runs. A process that dies stops refreshing: its chats are free within `lock_seconds`.
* **changes kept for the update**, written once. In webhook mode (the update tracked by
  `bot.coordination.UpdateDedupMiddleware`) that is when the lock is released, by the same
  script that writes the update's processed mark and frees the lock: state and mark in one
  commit, after the handlers and their answers. A process killed before that wrote neither:
  Telegram delivers the update again (no 200 was sent) and it is processed again from the same
  state, with the same result; an answer the killed process had already sent may then arrive
  twice, but nothing is lost and nothing is applied to a state it was not meant for. Without
  tracking (long polling: nothing is delivered again) a change is written at once; the update's
  `bot.telegram.conversation.UpdateState` already gathers them until just before the bot's next
  Bot API call, so no answer reaches the user before its state is stored.
* A duplicate delivery waits for the chat's lock, then finds the mark and is skipped.

Reads and writes of another key than the update's own (an admin's action on a user's form) go
straight to Redis. Records are JSON, like aiogram's.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import secrets
from collections.abc import AsyncGenerator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LOCK_SECONDS = 3.0
PROCESSED_KEPT_SECONDS = 2 * 24 * 3600  # Telegram keeps an undelivered update for at most 24 hours
LOCK_POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)  # waits between tries for a busy chat's lock

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local done = 0
  if ARGV[3] == '1' then done = redis.call('EXISTS', KEYS[3]) end
  return {1, done, redis.call('GET', KEYS[2])}
end
return {0}
"""
_RELEASE = """
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], ARGV[3])
elseif ARGV[2] == '2' then
  redis.call('DEL', KEYS[2])
end
if ARGV[4] == '1' then redis.call('SET', KEYS[3], '1', 'EX', ARGV[5]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# (state, data), or None: no state and no data
_Record = tuple[str | None, dict[str, Any]] | None

# The update being fed in this task (set by the webhook handler, bot/webhook.py): its lock script
# also looks up whether that update was processed already.
current_update_id: ContextVar[int | None] = ContextVar("current_update_id", default=None)


@dataclass
class Held:
    """One update's hold on its chat: the lock, the conversation record, what to write at release."""

    owner: RedisConversations = field(repr=False)
    name: str
    token: str
    update_id: int | None
    processed: bool  # the update was processed before (by this or another instance)
    record: _Record
    saved: _Record  # what Redis holds
    processed_key: str = ""
    marking: bool = False  # de-duplicated (webhook mode): state written with the mark at release
    done: bool = False  # the handlers finished: the release writes the mark
    active: bool = True
    refresher: asyncio.Task[None] | None = field(default=None, repr=False)

    def track(self) -> None:
        """Webhook mode: the state is written with the processed mark when the lock is released."""
        self.marking = self.update_id is not None

    def mark_processed(self) -> None:
        self.done = True


_held: ContextVar[Held | None] = ContextVar("redis_fsm_held", default=None)


def held_conversation() -> Held | None:
    """The current update's hold (None outside an update or without Redis)."""
    held = _held.get()
    return held if held is not None and held.active else None


def create_redis(url: str, *, max_connections: int, timeout: float) -> Redis:
    """A client whose pool *waits* (up to `timeout` s) for a free connection when all are in use.

    redis-py's default pool raises `MaxConnectionsError` at once when its cap is reached: a burst
    of 300 updates to one instance failed half of them (issue #16).
    """
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout)
    return Redis(connection_pool=pool)


def _state_name(state: StateType) -> str | None:
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


def _encode(record: _Record) -> str:
    assert record is not None
    return json.dumps({"s": record[0], "d": record[1]}, ensure_ascii=False, separators=(",", ":"))


def _decode(raw: bytes | str | None) -> _Record:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        state, data = value.get("s"), value.get("d") or {}
    except (ValueError, AttributeError):
        log.warning("unreadable conversation record ignored")
        return None
    if not isinstance(data, dict) or not (state is None or isinstance(state, str)):
        return None
    return None if state is None and not data else (state, data)


def _merge(current: _Record, values: Mapping[str, Any]) -> _Record:
    state = values["state"] if "state" in values else (None if current is None else current[0])
    data = values["data"] if "data" in values else ({} if current is None else current[1])
    return None if state is None and not data else (state, data)


class RedisConversations(BaseStorage, BaseEventIsolation):
    """aiogram FSM storage *and* events isolation on one Redis client (module docstring)."""

    def __init__(
        self,
        redis: Redis,
        *,
        key_builder: KeyBuilder | None = None,
        lock_seconds: float = LOCK_SECONDS,
        processed_kept_seconds: int = PROCESSED_KEPT_SECONDS,
    ) -> None:
        if lock_seconds <= 0:
            raise ValueError("lock_seconds must be positive")
        self.redis = redis
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        self.lock_ms = max(1, int(lock_seconds * 1000))
        self.processed_kept_seconds = processed_kept_seconds
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._refresh = redis.register_script(_REFRESH)

    # -- keys -----------------------------------------------------------------------------------
    def record_key(self, key: StorageKey) -> str:
        return f"{self.key_builder.build(key)}:conversation"

    @staticmethod
    def processed_key(update_id: int | None) -> str:
        return f"fsm:processed:{update_id if update_id is not None else 'none'}"

    # -- events isolation -----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = self.record_key(key)
        lock_key = self.key_builder.build(key, "lock")
        update_id = current_update_id.get()
        processed_key = self.processed_key(update_id)
        token = secrets.token_hex(8)
        held = await self._take(lock_key, name, processed_key, token, update_id)
        held.refresher = asyncio.create_task(self._keep(lock_key, token), name=f"refresh {lock_key}")
        reset = _held.set(held)
        try:
            yield None
        finally:
            held.active = False
            _held.reset(reset)
            held.refresher.cancel()
            await self._give_back(held, lock_key, processed_key)

    async def _take(
        self, lock_key: str, name: str, processed_key: str, token: str, update_id: int | None
    ) -> Held:
        check = "1" if update_id is not None else "0"
        for attempt in range(1_000_000):
            reply = await self._acquire(
                keys=[lock_key, name, processed_key], args=[token, self.lock_ms, check]
            )
            if int(reply[0]) == 1:
                record = _decode(reply[2] if len(reply) > 2 else None)
                held = Held(self, name, token, update_id, bool(int(reply[1])), record, record)
                held.processed_key = processed_key
                return held
            await asyncio.sleep(LOCK_POLL_SECONDS[min(attempt, len(LOCK_POLL_SECONDS) - 1)])
        raise RuntimeError("unreachable")

    async def _keep(self, lock_key: str, token: str) -> None:
        """Extend the lock every third of its life while the update runs."""
        while True:
            await asyncio.sleep(self.lock_ms / 3000)
            try:
                if not await self._refresh(keys=[lock_key], args=[token, self.lock_ms]):
                    log.warning(
                        "chat lock %s was lost (held longer than its life without a refresh)", lock_key
                    )
                    return
            except RedisError as error:
                log.warning("could not extend chat lock (%s)", type(error).__name__)

    async def _give_back(self, held: Held, lock_key: str, processed_key: str) -> None:
        """State, processed mark and unlock in one script. Runs even if the update was cancelled."""
        write, value = self._write_of(held)
        mark = held.done and held.marking
        args = [held.token, write, value, "1" if mark else "0", self.processed_kept_seconds]
        release = self._release(keys=[lock_key, held.name, processed_key], args=args)
        try:
            await asyncio.shield(release)
        except RedisError as error:  # the lock runs out by itself within lock_seconds
            log.warning("could not release a chat lock (%s)", type(error).__name__)

    @staticmethod
    def _write_of(held: Held) -> tuple[str, str]:
        if held.record == held.saved:
            return "0", ""
        return ("2", "") if held.record is None else ("1", _encode(held.record))

    async def save(self, held: Held) -> None:
        """The held record now (one command)."""
        record = held.record
        if record is None:
            await self.redis.delete(held.name)
        else:
            await self.redis.set(held.name, _encode(record))
        held.saved = copy.deepcopy(record)

    # -- storage --------------------------------------------------------------------------------
    def _own(self, key: StorageKey) -> Held | None:
        held = held_conversation()
        return held if held is not None and held.name == self.record_key(key) else None

    async def _read(self, key: StorageKey) -> _Record:
        held = self._own(key)
        if held is not None:
            return copy.deepcopy(held.record)
        return _decode(await self.redis.get(self.record_key(key)))

    async def _change(self, key: StorageKey, **values: Any) -> None:
        held = self._own(key)
        if held is not None:
            held.record = _merge(held.record, values)
            if not held.marking and held.record != held.saved:
                await self.save(held)  # polling: now, i.e. before the answer (module docstring)
            return
        name = self.record_key(key)
        record = _merge(_decode(await self.redis.get(name)), values)
        if record is None:
            await self.redis.delete(name)
        else:
            await self.redis.set(name, _encode(record))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._change(key, state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(key)
        return None if record is None else record[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._change(key, data=copy.deepcopy(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(key)
        return {} if record is None else dict(record[1])

    async def close(self) -> None:
        await self.redis.aclose()
