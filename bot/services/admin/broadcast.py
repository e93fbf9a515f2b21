"""Broadcasts: one message to many users, at a steady rate, exactly once each, across restarts.

Starting a broadcast stores it and materialises its recipients (storage.repositories.broadcasts) in
one transaction; delivery then runs in an asyncio task owned by this service (never by a handler).
The task claims a batch of pending recipients (PENDING -> SENDING), sends to them with a few
concurrent workers, and records each outcome; a claimed recipient is never claimed again, so nobody
gets the message twice. Recipients still SENDING when a sender died are closed as FAILED (their
delivery is unknown) rather than sent again.

Rate: every Telegram call of a broadcast passes a `Pacer` shared by all broadcasts, which spaces the
calls' start times 1/rate apart. It sits in a request middleware *inside* the session's
RetryMiddleware, so the retries that middleware makes after a 429 are paced too, and a 429 pauses
every broadcast for its retry_after. Users who blocked the bot are flagged (users.blocked_bot) and
left out of later broadcasts.

Ownership: a running broadcast has a lease (runner, lease_until) renewed every few seconds, so two
processes never send the same broadcast; at start-up and then every minute `resume` picks up running
broadcasts nobody owns. `close` (dispatcher shutdown) lets calls in flight finish for a moment, puts
the rest back to PENDING and releases the lease, so the next start resumes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import DEFAULT_LOCALE, PoI18n, create_i18n, pick_locale
from bot.services.admin.audit import write_audit
from storage.models import Broadcast, BroadcastState, RecipientState, utcnow
from storage.repositories.broadcasts import BroadcastRepository, Counts, RecipientResult
from storage.repositories.users import UserRepository

if TYPE_CHECKING:
    from aiogram.types import InlineKeyboardMarkup

log = logging.getLogger(__name__)

KIND_TEXT = "text"
KIND_PHOTO = "photo"
KIND_COPY = "copy"


class Stopped(Exception):
    """The broadcast is stopping: this call was not made."""


@dataclass(frozen=True)
class Content:
    """What a broadcast sends: HTML text, a photo (file_id) with an HTML caption, or a copied message."""

    kind: str
    text: str | None = None
    file_id: str | None = None
    source_chat_id: int | None = None
    source_message_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "file_id": self.file_id,
            "source_chat_id": self.source_chat_id,
            "source_message_id": self.source_message_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Content:
        return cls(
            kind=str(data["kind"]),
            text=data.get("text"),
            file_id=data.get("file_id"),
            source_chat_id=data.get("source_chat_id"),
            source_message_id=data.get("source_message_id"),
        )

    @classmethod
    def of(cls, broadcast: Broadcast) -> Content:
        return cls(
            broadcast.kind,
            broadcast.text,
            broadcast.file_id,
            broadcast.source_chat_id,
            broadcast.source_message_id,
        )


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    state: str  # BroadcastState
    total: int
    sent: int
    failed: int
    blocked: int
    left: int
    rate: float  # messages per second in this run
    eta_seconds: float | None
    elapsed_seconds: float


# --- pacing ------------------------------------------------------------------------------------


class Pacer:
    """Lets calls start one at a time, at least `1/rate` seconds apart; `pause` holds everyone back.

    The spacing is aiolimiter's leaky bucket of capacity one: a call may start once the previous
    one has drained, so a stalled event loop never releases a burst of overdue calls at once.
    Telegram documents its limit (30 messages a second), so this pace is fixed, not learned like
    the panel's (bot/panel/limiter.py): probing would cost a 429 and its wait on every broadcast.
    The spacing has a small margin, so timer and network jitter never put `rate + 1` calls into
    one second at the server.
    """

    MARGIN = 1.03

    def __init__(self, rate_per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = self.MARGIN / rate_per_second
        self.clock = clock
        self._bucket = AsyncLimiter(1, self.interval)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def acquire(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        async with self._lock:  # FIFO: callers are served in the order they came
            while True:
                if should_stop():
                    raise Stopped
                wait = self._paused_until - self.clock()
                if wait <= 0:
                    await self._bucket.acquire()
                    if self._paused_until <= self.clock():
                        return
                    continue  # a 429 arrived meanwhile: its pause first
                await asyncio.sleep(wait)


@dataclass
class _Ticket:
    """One broadcast call: which pacer it goes through, and whether Telegram may have accepted it."""

    pacer: Pacer
    should_stop: Callable[[], bool]
    in_flight: bool = False


_ticket: ContextVar[_Ticket | None] = ContextVar("broadcast_ticket", default=None)


class PacingMiddleware(BaseRequestMiddleware):
    """Paces every attempt of a broadcast call (retries included); other calls pass untouched."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        ticket = _ticket.get()
        if ticket is None:
            return await make_request(bot, method)
        await ticket.pacer.acquire(ticket.should_stop)
        ticket.in_flight = True
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as error:
            ticket.in_flight = False  # refused: not delivered
            ticket.pacer.pause(float(error.retry_after))
            raise
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound):
            ticket.in_flight = False
            raise


def install_pacing(bot: Bot) -> None:
    """Add the pacing middleware to the bot's session once, inside the retry middleware."""
    if not any(isinstance(m, PacingMiddleware) for m in bot.session.middleware):
        bot.session.middleware(PacingMiddleware())


# --- one running broadcast -----------------------------------------------------------------------


@dataclass
class _Run:
    broadcast_id: int
    task: asyncio.Task[None] | None = None
    content: Content | None = None
    locale: str = DEFAULT_LOCALE
    chat_id: int | None = None
    message_id: int | None = None
    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    left: int = 0
    sent_this_run: int = 0
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False  # shutdown or lost lease: leave it for the next sender
    cancelled: bool = False  # an admin cancelled it

    def should_stop(self) -> bool:
        return self.stopping or self.cancelled

    def account(self, result: RecipientResult) -> None:
        if result.state == RecipientState.SENT:
            self.sent += 1
            self.sent_this_run += 1
        elif result.state == RecipientState.FAILED:
            self.failed += 1
        elif result.state == RecipientState.BLOCKED:
            self.blocked += 1
        else:
            return
        self.left -= 1

    def load(self, counts: Counts) -> None:
        self.total = counts.total
        self.sent, self.failed, self.blocked, self.left = (
            counts.sent,
            counts.failed,
            counts.blocked,
            counts.left,
        )


def _never() -> bool:
    return False


class EmptyAudience(Exception):
    """Nobody to send to."""


class BroadcastService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        rate_per_second: float,
        default_locale: str = DEFAULT_LOCALE,
        progress_every: float = 3.0,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 3,
        grace: float = 2.0,
        i18n: PoI18n | None = None,
        on_blocked: Callable[[int], None] = lambda _user_id: None,
    ) -> None:
        self.session_factory = session_factory
        self.bot = bot
        self.rate = rate_per_second
        self.on_blocked = on_blocked  # UserService.forget: its cached profile must see the flag
        self.pacer = Pacer(rate_per_second)
        self.default_locale = default_locale
        self.progress_every = progress_every
        self.lease = lease
        self.max_attempts = max_attempts
        self.grace = grace
        self.i18n = i18n or create_i18n(default_locale)
        self.runner_id = secrets.token_hex(8)
        # Enough calls in flight to keep the rate with ~0.5 s of latency. Each batch ≈ 4 s of sending:
        # sending pauses at every batch boundary (outcomes recorded, next batch claimed), which
        # cost ~3.5% of the rate with 2-s batches (bench/RESULTS.md); a hard crash leaves at most
        # one batch's deliveries undecided (closed as failed, never sent twice).
        self.concurrency = max(1, min(64, math.ceil(rate_per_second / 2)))
        self.batch_size = max(10, min(500, int(rate_per_second * 4)))
        self._runs: dict[int, _Run] = {}
        self._closing = False
        install_pacing(bot)

    # --- admin actions -------------------------------------------------------------------------------

    async def audience_size(self, audience: str) -> int:
        async with self.session_factory() as session:
            return await BroadcastRepository(session).audience_size(audience, utcnow())

    async def start(
        self,
        admin_id: int,
        content: Content,
        audience: str,
        *,
        chat_id: int,
        message_id: int | None = None,
    ) -> Broadcast:
        """Store the broadcast with its recipients and start sending; raises EmptyAudience."""
        now = utcnow()
        async with self.session_factory.begin() as session:
            repo = BroadcastRepository(session)
            broadcast = await repo.create(
                Broadcast(
                    admin_id=admin_id,
                    kind=content.kind,
                    text=content.text,
                    file_id=content.file_id,
                    source_chat_id=content.source_chat_id,
                    source_message_id=content.source_message_id,
                    audience=audience,
                    state=BroadcastState.RUNNING,
                    progress_chat_id=chat_id,
                    progress_message_id=message_id,
                    created_at=now,
                ),
                now,
            )
            if broadcast.total == 0:
                raise EmptyAudience  # rolls the transaction back: nothing stored
            await write_audit(
                session,
                admin_id,
                "broadcast.start",
                broadcast_id=broadcast.id,
                audience=audience,
                recipients=broadcast.total,
                kind=content.kind,
                text=content.text or "",
            )
        log.info("broadcast %s started by %s: %d recipients", broadcast.id, admin_id, broadcast.total)
        self._launch(broadcast.id)
        return broadcast

    async def cancel(self, broadcast_id: int, admin_id: int) -> Progress | None:
        """Stop a running broadcast; None when it is not running (finished, cancelled, unknown)."""
        async with self.session_factory.begin() as session:
            repo = BroadcastRepository(session)
            if not await repo.finish(broadcast_id, BroadcastState.CANCELLED, utcnow()):
                return None
            await write_audit(session, admin_id, "broadcast.cancel", broadcast_id=broadcast_id)
        run = self._runs.get(broadcast_id)
        if run is not None:
            run.cancelled = True
        log.info("broadcast %s cancelled by %s", broadcast_id, admin_id)
        return await self.progress(broadcast_id)

    async def progress(self, broadcast_id: int) -> Progress | None:
        async with self.session_factory() as session:
            repo = BroadcastRepository(session)
            broadcast = await repo.get(broadcast_id)
            if broadcast is None:
                return None
            counts = await repo.counts(broadcast_id)
        run = self._runs.get(broadcast_id)
        return self._progress_of(broadcast_id, broadcast.state, counts, run)

    async def recent(self, limit: int = 5) -> list[tuple[Broadcast, Counts]]:
        async with self.session_factory() as session:
            repo = BroadcastRepository(session)
            found = await repo.recent(limit)
            return [(item, await repo.counts(item.id)) for item in found]

    async def send_preview(self, content: Content, chat_id: int) -> None:
        """The message to one chat, as a recipient will get it (raises the Telegram error)."""
        await self._deliver(content, chat_id)

    def is_sending(self, broadcast_id: int) -> bool:
        return broadcast_id in self._runs

    # --- lifecycle -------------------------------------------------------------------------------------

    async def resume(self) -> list[int]:
        """Start sending every running broadcast this process does not send yet (start-up, then a job)."""
        if self._closing:
            return []
        async with self.session_factory() as session:
            ids = await BroadcastRepository(session).running_ids()
        started = [broadcast_id for broadcast_id in ids if broadcast_id not in self._runs]
        for broadcast_id in started:
            self._launch(broadcast_id)
        return started

    async def close(self) -> None:
        """Stop sending: calls in flight get `grace` seconds, the rest is left for the next start."""
        self._closing = True
        runs = list(self._runs.values())
        for run in runs:
            run.stopping = True
        tasks = [run.task for run in runs if run.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self.grace)

    def _launch(self, broadcast_id: int) -> None:
        if self._closing or broadcast_id in self._runs:
            return
        run = _Run(broadcast_id)
        self._runs[broadcast_id] = run
        run.task = asyncio.create_task(self._run(run), name=f"broadcast-{broadcast_id}")

    # --- sending ---------------------------------------------------------------------------------------

    async def _run(self, run: _Run) -> None:
        try:
            if not await self._take_over(run):
                return
            try:
                await self._send_all(run)
                if not run.stopping:
                    await self._finish(run)
            finally:
                await self._release(run)
        except Exception:
            log.exception("broadcast %s stopped by an error; it resumes on the next start", run.broadcast_id)
        finally:
            self._runs.pop(run.broadcast_id, None)

    async def _take_over(self, run: _Run) -> bool:
        """Acquire the lease; close what a dead sender left in flight; load what to send."""
        async with self.session_factory.begin() as session:
            repo = BroadcastRepository(session)
            if not await repo.acquire(run.broadcast_id, self.runner_id, utcnow(), self.lease):
                return False
            interrupted = await repo.close_interrupted(run.broadcast_id)
            broadcast = await repo.get(run.broadcast_id)
            assert broadcast is not None
            admin = await UserRepository(session).get(broadcast.admin_id)
            run.load(await repo.counts(run.broadcast_id))
        if interrupted:
            log.warning(
                "broadcast %s: %d deliveries were interrupted earlier; not repeated",
                run.broadcast_id,
                interrupted,
            )
        run.content = Content.of(broadcast)
        run.chat_id = broadcast.progress_chat_id or broadcast.admin_id
        run.message_id = broadcast.progress_message_id
        run.locale = pick_locale(
            admin.locale if admin else None, admin.language_code if admin else None, self.default_locale
        )
        run.started = time.monotonic()
        return True

    async def _send_all(self, run: _Run) -> None:
        reporter = asyncio.create_task(
            self._report_progress(run), name=f"broadcast-{run.broadcast_id}-progress"
        )
        try:
            await self._show(run)
            while not run.should_stop():
                async with self.session_factory.begin() as session:
                    batch = await BroadcastRepository(session).claim(run.broadcast_id, self.batch_size)
                if not batch:
                    break
                await self._send_batch(run, batch)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def _send_batch(self, run: _Run, batch: list[int]) -> None:
        results: dict[int, RecipientResult] = {}
        tickets: dict[int, _Ticket] = {}
        queue = deque(batch)

        async def worker() -> None:
            while queue and not run.should_stop():
                user_id = queue.popleft()
                ticket = _Ticket(self.pacer, run.should_stop)
                tickets[user_id] = ticket
                result = await self._send_one(run, user_id, ticket)
                results[user_id] = result
                run.account(result)

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(batch)))))
        finally:
            # Shutdown may cancel us mid-batch: what never reached Telegram goes back to PENDING; what
            # may have reached it stays SENDING and is closed as FAILED by the next sender.
            for user_id in batch:
                if user_id not in results and not (user_id in tickets and tickets[user_id].in_flight):
                    results[user_id] = RecipientResult(user_id, RecipientState.PENDING, count_attempt=False)
            async with self.session_factory.begin() as session:
                await BroadcastRepository(session).record(
                    run.broadcast_id, list(results.values()), utcnow(), max_attempts=self.max_attempts
                )
            for result in results.values():
                if result.state == RecipientState.BLOCKED:
                    self.on_blocked(result.user_id)

    async def _send_one(self, run: _Run, user_id: int, ticket: _Ticket) -> RecipientResult:
        token = _ticket.set(ticket)
        try:
            await self._deliver(run.content, user_id)
        except Stopped:
            return RecipientResult(user_id, RecipientState.PENDING, count_attempt=False)
        except TelegramForbiddenError as error:
            return RecipientResult(user_id, RecipientState.BLOCKED, error.message)
        except TelegramRetryAfter as error:  # outlived the session's own retries
            self.pacer.pause(float(error.retry_after))
            return RecipientResult(user_id, RecipientState.PENDING, error.message, count_attempt=False)
        except (TelegramBadRequest, TelegramNotFound) as error:
            return RecipientResult(user_id, RecipientState.FAILED, error.message)
        except TelegramAPIError as error:  # network, server, auth: try again a little later
            self.pacer.pause(1.0)
            return RecipientResult(
                user_id, RecipientState.PENDING, f"{type(error).__name__}: {error.message}"
            )
        except Exception as error:
            log.exception("broadcast %s: sending to %s failed", run.broadcast_id, user_id)
            return RecipientResult(user_id, RecipientState.FAILED, type(error).__name__)
        finally:
            _ticket.reset(token)
        return RecipientResult(user_id, RecipientState.SENT)

    async def _deliver(self, content: Content | None, chat_id: int) -> None:
        if content is None:
            raise Stopped
        if content.kind == KIND_TEXT:
            await self.bot.send_message(chat_id, content.text or "")
        elif content.kind == KIND_PHOTO:
            await self.bot.send_photo(chat_id, photo=content.file_id or "", caption=content.text or None)
        else:
            await self.bot.copy_message(
                chat_id=chat_id,
                from_chat_id=content.source_chat_id or 0,
                message_id=content.source_message_id or 0,
            )

    async def _release(self, run: _Run) -> None:
        with contextlib.suppress(Exception):
            async with self.session_factory.begin() as session:
                await BroadcastRepository(session).release(run.broadcast_id, self.runner_id)

    async def _finish(self, run: _Run) -> None:
        """Done or cancelled: final state, final progress message and a report to the admin."""
        async with self.session_factory.begin() as session:
            repo = BroadcastRepository(session)
            counts = await repo.counts(run.broadcast_id)
            if not run.cancelled and counts.left == 0:
                await repo.finish(run.broadcast_id, BroadcastState.DONE, utcnow())
            broadcast = await repo.get(run.broadcast_id)
        if broadcast is None or broadcast.state == BroadcastState.RUNNING:
            return  # another sender has it now
        run.load(counts)
        log.info(
            "broadcast %s %s: sent %d, failed %d, blocked %d",
            run.broadcast_id,
            broadcast.state,
            counts.sent,
            counts.failed,
            counts.blocked,
        )
        await self._show(run, state=broadcast.state, should_stop=_never)
        from bot.views.admin import broadcast_report

        with self.i18n.context(), self.i18n.use_locale(run.locale):
            text = broadcast_report(self._progress_of(run.broadcast_id, broadcast.state, counts, run))
        with contextlib.suppress(TelegramAPIError), self._paced(_never):
            await self.bot.send_message(run.chat_id or broadcast.admin_id, text)

    # --- progress --------------------------------------------------------------------------------------

    async def _report_progress(self, run: _Run) -> None:
        """Renew the lease and refresh the admin's progress message every few seconds."""
        while True:
            await asyncio.sleep(self.progress_every)
            try:
                async with self.session_factory.begin() as session:
                    owned = await BroadcastRepository(session).renew(
                        run.broadcast_id, self.runner_id, utcnow(), self.lease
                    )
                if not owned:  # cancelled (maybe by another process) or taken over
                    run.cancelled = True
                    return
                await self._show(run)
            except Exception:
                log.exception("broadcast %s: progress update failed", run.broadcast_id)

    def _progress_of(self, broadcast_id: int, state: str, counts: Counts, run: _Run | None) -> Progress:
        elapsed = time.monotonic() - run.started if run is not None else 0.0
        if run is not None and run.broadcast_id == broadcast_id:
            sent, failed, blocked, left, total = run.sent, run.failed, run.blocked, run.left, run.total
        else:
            sent, failed, blocked, left, total = (
                counts.sent,
                counts.failed,
                counts.blocked,
                counts.left,
                counts.total,
            )
        done_now = run.sent_this_run if run is not None else 0
        rate = done_now / elapsed if elapsed > 0.5 and done_now else 0.0
        eta = left / (rate or self.rate) if left else 0.0
        return Progress(broadcast_id, state, total, sent, failed, blocked, left, rate, eta, elapsed)

    @contextlib.contextmanager
    def _paced(self, should_stop: Callable[[], bool]) -> Iterator[None]:
        """Telegram calls made inside go through the broadcast pacer (the admin's messages count too)."""
        token = _ticket.set(_Ticket(self.pacer, should_stop))
        try:
            yield
        finally:
            _ticket.reset(token)

    async def _show(
        self,
        run: _Run,
        *,
        state: str = BroadcastState.RUNNING,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Edit the admin's progress message (or send a new one when it is gone)."""
        if run.chat_id is None:
            return
        from bot.views.admin import broadcast_progress

        with self.i18n.context(), self.i18n.use_locale(run.locale):
            progress = self._progress_of(run.broadcast_id, state, Counts(), run)
            text, markup = broadcast_progress(progress)
        try:
            with self._paced(should_stop or run.should_stop):
                await self._edit_or_send(run, text, markup)
        except Stopped:
            pass

    async def _edit_or_send(self, run: _Run, text: str, markup: InlineKeyboardMarkup | None) -> None:
        assert run.chat_id is not None
        if run.message_id is not None:
            try:
                await self.bot.edit_message_text(
                    text, chat_id=run.chat_id, message_id=run.message_id, reply_markup=markup
                )
                return
            except TelegramBadRequest as error:
                if "not modified" in error.message:
                    return
                log.debug("broadcast %s: progress message gone (%s)", run.broadcast_id, error.message)
            except TelegramAPIError as error:
                log.debug("broadcast %s: could not edit progress (%s)", run.broadcast_id, error.message)
                return
        try:
            sent = await self.bot.send_message(run.chat_id, text, reply_markup=markup)
        except TelegramAPIError as error:
            log.debug("broadcast %s: could not send progress (%s)", run.broadcast_id, error.message)
            return
        run.message_id = sent.message_id
        async with self.session_factory.begin() as session:
            await BroadcastRepository(session).set_progress_message(
                run.broadcast_id, run.chat_id, sent.message_id
            )
