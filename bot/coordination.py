"""Several identical bot instances on one database: one scheduler leader, each update processed once.

Leader lease
    Every instance runs `LeaderLease.tick` every LEASE_SECONDS / 3. A tick takes or renews the row
    `leases(name="scheduler")` with one conditional UPDATE (or the first INSERT), which the database
    makes atomic on SQLite and PostgreSQL alike (storage/repositories/coordination.py). The periodic
    jobs (status polling, catalog sync, notifier, admin alerts…) are each wrapped with
    `LeaderLease.only` where bot/app.py `create_dispatcher` adds them, and return at once unless
    this instance holds the lease. When the holder dies, its lease runs
    out after LEASE_SECONDS and the next tick of another instance takes it: a takeover within
    LEASE_SECONDS + LEASE_SECONDS / 3. A holder stops acting as leader on its own clock a quarter of
    the lease before the row expires, counted from when its last successful renewal *started*, so a
    holder that cannot reach the database has stopped before anyone else can start. On shutdown the
    lease is released (it lapses at once), so a successor takes over at its next tick.

    The lease decides who *starts* the jobs; the jobs themselves stay safe to overlap (the outbox
    claims rows before sending, order updates are conditional), so the short window in which a job
    started by a leader that just lost the lease is still running cannot send anything twice.

Update de-duplication (webhook mode): at-least-once receipt, each update's effects once
    The webhook answers Telegram only after the update was processed (bot/webhook.py), so an
    update whose instance dies mid-way gets no 200 and Telegram delivers it again. What keeps a
    redelivery or a duplicate (Telegram retrying, a load balancer retrying on another instance)
    from acting twice is a processed mark written *after* the handlers, never before:

    * with Redis (storage/redis_fsm.py) the chat's lock is taken and the mark read in one command
      before the handlers; the conversation state the handlers changed and the mark are written
      by the one command that frees the lock, after the handlers. A duplicate waits for the
      chat's lock, then finds the mark. A process killed mid-update wrote neither and its lock
      runs out within CHAT_LOCK_SECONDS: the redelivery runs from the same state with the same
      result (an answer the dead process had already sent may come twice; nothing is lost, and
      nothing is applied twice or to the wrong state);
    * without a chat (or without Redis) `UpdateDedupMiddleware` claims the update in
      `processed_updates` for CLAIM_SECONDS (one INSERT ... ON CONFLICT DO UPDATE that also takes
      over a claim that ran out) and marks it done after the handlers. A duplicate arriving while
      the claim is live is answered 503 (Telegram tries again later); if processing raised, the
      claim is removed so a redelivery may retry it.

    What the handlers did to the database is committed by the services themselves, before the
    mark; a crash between the two repeats the update on redelivery, where the money paths' own
    keys (a charge per order, a credit per payment) keep it from counting twice. Rows older than
    two days are pruned by a leader job (Telegram keeps an undelivered update for 24 hours).

    One process on SQLite (nobody else can receive this bot's updates) keeps the claims in
    memory instead (`in_memory=True`, the last RECENT_UPDATES update_ids): no write per update.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import apply_migrations
from storage.models import utcnow
from storage.redis_fsm import held_conversation
from storage.repositories.coordination import Claim, LeaseRepository, ProcessedUpdateRepository

log = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"
LEASE_JOB_ID = "leader_lease"
PRUNE_JOB_ID = "processed_updates_prune"
PROCESSED_UPDATES_KEPT = timedelta(days=2)
RELEASE_TIMEOUT = 5.0
# Arbitrary constant key of the PostgreSQL advisory lock taken around migrations.
MIGRATION_LOCK_KEY = 0x5A4D_4D53_0001

P = ParamSpec("P")
R = TypeVar("R")


class LeaderLease:
    """This instance's view of one named lease; see the module docstring."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        holder: str,
        seconds: float,
        name: str = SCHEDULER_LEASE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds <= 0:
            raise ValueError("lease seconds must be positive")
        self.session_factory = session_factory
        self.holder = holder
        self.seconds = seconds
        self.name = name
        self.monotonic = monotonic
        self.term: int | None = None
        self._valid_until = 0.0  # monotonic time until which this instance may act as leader
        self._lock = asyncio.Lock()

    @property
    def renew_interval(self) -> float:
        """How often to tick: three tries per lease, so one failed renewal is survived."""
        return self.seconds / 3

    @property
    def validity(self) -> float:
        """How long after a renewal *started* this instance acts as leader: 3/4 of the lease."""
        return self.seconds * 3 / 4

    @property
    def is_leader(self) -> bool:
        return self.monotonic() < self._valid_until

    async def tick(self) -> bool:
        """Take or renew the lease; True when this instance is the leader afterwards. Never raises."""
        async with self._lock:
            was_leader = self.is_leader
            started = self.monotonic()
            try:
                async with self.session_factory.begin() as session:
                    grant = await LeaseRepository(session).acquire(self.name, self.holder, self.seconds)
            except Exception as error:
                log.warning(
                    "lease %r: could not renew (%s); leader for %.1f s more at most",
                    self.name,
                    type(error).__name__,
                    max(0.0, self._valid_until - self.monotonic()),
                )
                return self.is_leader
            if grant is None:
                self._valid_until = 0.0
                if was_leader:
                    log.warning("lease %r: taken by another instance; no longer the leader", self.name)
                return False
            self._valid_until = started + self.validity
            if not was_leader or grant.term != self.term:
                log.info("lease %r: %s is the leader (term %d)", self.name, self.holder, grant.term)
            self.term = grant.term
            return True

    async def take_over(self) -> bool:
        """Become the leader now, ending a lease its holder left behind: only for a process that
        owns the database (SQLite), whose predecessor holding the lease can only be a process that
        died. Without it a restart after a crash ran no job (status polling, notices) for up to
        LEASE_SECONDS. Never raises; True when this instance is the leader afterwards."""
        try:
            async with self.session_factory.begin() as session:
                if await LeaseRepository(session).expire(self.name):
                    log.info("lease %r: ended the lease a stopped process left", self.name)
        except Exception as error:
            log.warning("lease %r: could not end a left lease (%s)", self.name, type(error).__name__)
        return await self.tick()

    async def release(self, timeout: float = RELEASE_TIMEOUT) -> None:
        """Stop acting as leader and let the lease lapse now, so a successor takes it at once (call it
        after stopping the scheduler). Waits at most `timeout` for the database; otherwise the
        lease runs out by itself."""
        self._valid_until = 0.0
        try:
            async with asyncio.timeout(timeout), self._lock, self.session_factory.begin() as session:
                self._valid_until = 0.0  # again: a tick that was under way may have renewed it
                released = await LeaseRepository(session).release(self.name, self.holder)
        except Exception as error:
            log.warning(
                "lease %r: could not release (%s); it runs out by itself", self.name, type(error).__name__
            )
            return
        if released:
            log.info("lease %r: released by %s", self.name, self.holder)

    def only(self, job: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | None]]:
        """Wrap a scheduler job so that it does its work only on the leader."""

        @functools.wraps(job)
        async def leader_only(*args: P.args, **kwargs: P.kwargs) -> R | None:
            if not self.is_leader:
                return None
            return await job(*args, **kwargs)

        leader_only.leader_only = True  # type: ignore[attr-defined]
        return leader_only


async def prune_processed_updates(
    session_factory: async_sessionmaker[AsyncSession], keep: timedelta = PROCESSED_UPDATES_KEPT
) -> int:
    """The scheduler job that forgets old update ids. Never raises."""
    try:
        async with session_factory.begin() as session:
            removed = await ProcessedUpdateRepository(session).prune(utcnow() - keep)
    except Exception:
        log.exception("pruning processed updates failed")
        return 0
    if removed:
        log.debug("pruned %d processed update ids", removed)
    return removed


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


RECENT_UPDATES = 50_000
CLAIM_SECONDS = 120.0  # longer than the 55 s an update may hold a webhook request (aiogram)


@dataclass
class Delivery:
    """One webhook request's update: the HTTP answer depends on what the middleware found."""

    update_id: int | None
    busy: bool = False  # another delivery of the same update is being processed: answer 503


current_delivery: ContextVar[Delivery | None] = ContextVar("current_delivery", default=None)


class UpdateDedupMiddleware(BaseMiddleware):
    """Outer update middleware: each update's effects once across all instances (module docstring)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        in_memory: bool = False,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.session_factory = session_factory
        self.in_memory = in_memory
        self.claim_seconds = claim_seconds
        self._recent: LRUCache[int, bool] = LRUCache(RECENT_UPDATES)  # update_id -> done

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        held = held_conversation()
        if held is not None and held.update_id == update_id:
            # Redis: the chat's lock is held; the mark is written with the state when it is released.
            if held.processed:
                log.info("update %s was delivered again; skipped", update_id)
                return None
            held.track()
            result = await handler(event, data)
            held.mark_processed()
            return result
        claim = await self._claim(update_id)
        if claim is not Claim.TAKEN:
            log.info("update %s was delivered again (%s); skipped", update_id, claim.value)
            delivery = current_delivery.get()
            if claim is Claim.BUSY and delivery is not None and delivery.update_id == update_id:
                delivery.busy = True
            return None
        try:
            result = await handler(event, data)
        except BaseException:
            await self._forget(update_id)
            raise
        await self._finish(update_id)
        return result

    async def _claim(self, update_id: int) -> Claim:
        if self.in_memory:
            done = self._recent.get(update_id, None)
            if done is not None:
                return Claim.DONE if done else Claim.BUSY
            self._recent[update_id] = False
            return Claim.TAKEN
        now = utcnow()
        until = now + timedelta(seconds=self.claim_seconds)
        async with self.session_factory.begin() as session:
            return await ProcessedUpdateRepository(session).claim(update_id, until=until, now=now)

    async def _finish(self, update_id: int) -> None:
        if self.in_memory:
            self._recent[update_id] = True
            return
        try:
            async with self.session_factory.begin() as session:
                await ProcessedUpdateRepository(session).finish(update_id)
        except Exception as error:  # processed; a redelivery after the claim ran out would repeat it
            log.warning("update %s: could not record it as processed (%s)", update_id, type(error).__name__)

    async def _forget(self, update_id: int) -> None:
        if self.in_memory:
            self._recent.pop(update_id, None)
            return
        try:
            async with self.session_factory.begin() as session:
                await ProcessedUpdateRepository(session).forget(update_id)
        except Exception as error:  # the original error matters more
            log.warning(
                "update %s: could not clear its processing claim (%s)", update_id, type(error).__name__
            )


async def wait_for_tasks(tasks: Collection[asyncio.Task[Any]], timeout: float) -> int:
    """Let in-flight update tasks finish (graceful shutdown); returns how many were still running."""
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return 0
    log.info("waiting for %d update(s) in flight", len(pending))
    _, still = await asyncio.wait(pending, timeout=timeout)
    for task in still:
        task.cancel()
    if still:
        log.warning("%d update(s) did not finish within %.0f s and were cancelled", len(still), timeout)
    return len(still)


async def migrate_exclusively(engine: AsyncEngine) -> None:
    """Apply migrations; on PostgreSQL one instance at a time, so instances starting together
    do not race to create the same tables (SQLite's BEGIN IMMEDIATE serialises them already)."""
    if engine.dialect.name != "postgresql":
        await apply_migrations(engine)
        return
    async with engine.connect() as connection, connection.begin():
        await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        await apply_migrations(engine)
