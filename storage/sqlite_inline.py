"""An aiosqlite look-alike that runs sqlite3 calls inline, in the event loop thread.

Why: aiosqlite sends every call (cursor, execute, fetch, close, commit) through a queue to a worker
thread and back with `call_soon_threadsafe`; that hop costs far more CPU than the sqlite3 call
itself, which takes microseconds on a small local database. SQLAlchemy's `sqlite+aiosqlite`
dialect only needs an object with aiosqlite's shape, so it can drive this one through
`create_async_engine("sqlite+aiosqlite:///…", async_creator=inline_creator(path, timeout=…))`.

The one thing an inline driver must not do is wait for a lock inside SQLite: the busy handler
sleeps in the calling thread, which here is the event loop, and if the lock holder is a coroutine
of the same loop it can never release it (a deadlock until the timeout). So:

* the native busy timeout is always 0 (`sqlite3.connect(timeout=0)`; `PRAGMA busy_timeout = N` is
  intercepted and only sets this driver's own budget, see `InlineCursor.execute`);
* a statement that fails with SQLITE_BUSY where SQLite's busy handler would have been consulted
  (no lock held yet: autocommit statements, `BEGIN IMMEDIATE`, the first statement after a
  deferred `BEGIN`) is retried after an asynchronous wait, until the budget runs out; then the
  last `sqlite3.OperationalError("database is locked")` is raised, as the stock driver would;
* COMMIT is retried the same way (SQLite documents a busy COMMIT as retryable with the
  transaction kept; in WAL mode a COMMIT does not wait for anyone: the writer already holds the
  write lock and the auto-checkpoint is PASSIVE, so this mostly matters outside WAL);
* a statement that gets SQLITE_BUSY while its transaction already holds a lock (e.g. a read
  transaction upgrading to a write) fails at once: SQLite does not call the busy handler there
  either, because waiting could deadlock;
* the asynchronous wait ends early when another connection of the same creator ends a
  transaction (in-process waiters are woken at once); a lock holder in another process is polled
  with a backoff of 1 ms doubling up to 50 ms.

Reads in WAL mode take no lock, so the common path never waits. What still runs in the loop
thread: real disk I/O (page cache misses, the fsync of a WAL auto-checkpoint every
`wal_autocheckpoint` pages, the checkpoint when the last connection closes).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Literal, cast

SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517  # a stale read snapshot: waiting cannot help
FIRST_BACKOFF = 0.001
MAX_BACKOFF = 0.05
# A connection lets other tasks run once it has run statements for this long without a pause.
# Time, not a statement count: a short transaction must never yield while it holds SQLite's write
# lock (and the process's write queue, storage/db.py), or every writer behind it waits a turn of
# a busy event loop and a convoy forms: under the conversation benchmark's load a yield every 16
# statements put seconds of queueing on order placement (bench/RESULTS.md). Long work (a catalog
# sync) still yields every slice, so the bot keeps answering meanwhile.
DEFAULT_YIELD_AFTER = 0.02
# typeshed's spelling; sqlite3 also takes "" (its default: a plain deferred BEGIN), as SQLAlchemy sets.
_Sqlite3Isolation = Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None

_BUSY_TIMEOUT_PRAGMA = re.compile(
    r"\s*pragma\s+(?:\w+\.)?busy_timeout\s*(?:=\s*\(?\s*(-?\d+)\s*\)?)?\s*;?\s*$", re.IGNORECASE
)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # not raised by the SQLite library itself
        return False
    return code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


class LockWaiters:
    """Coroutines waiting for a lock; woken when a connection of the same creator ends a transaction.

    Without it a waiter would only notice a released lock at its next backoff poll.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def released(self) -> None:
        """A transaction ended: let every waiter retry now (at most a pool's worth of them)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, delay: float) -> None:
        """Sleep `delay` seconds or until `released()`, whichever comes first."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(delay, _wake, waiter)
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiters.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class InlineCursor:
    """aiosqlite.Cursor's shape over a sqlite3 cursor; every call runs inline."""

    __slots__ = ("_cursor", "_owner")

    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        """Run one statement; `PRAGMA busy_timeout` sets the driver's budget, see the module doc."""
        owner = self._owner
        await owner._maybe_yield()
        pragma = _BUSY_TIMEOUT_PRAGMA.match(sql)
        if pragma is not None:
            if pragma.group(1) is not None:
                owner.timeout = max(int(pragma.group(1)), 0) / 1000
            self._cursor.execute("SELECT ? AS timeout", (round(owner.timeout * 1000),))
            return self
        if owner._pending_begin is not None:
            await owner._begin_now()
        cursor = self._cursor
        if parameters is None:
            await owner._run(cursor.execute, sql)
        else:
            await owner._run(cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        await self._owner._maybe_yield()
        if self._owner._pending_begin is not None:
            await self._owner._begin_now()
        await self._owner._run(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return self._cursor.fetchmany()
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        """DBAPI no-op, as in sqlite3."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while rows := self._cursor.fetchmany(self._cursor.arraysize or 64):
            for row in rows:
                yield row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """aiosqlite.Connection's public shape (what SQLAlchemy's aiosqlite dialect calls), inline.

    One attribute is not public aiosqlite: the dialect skips commit/rollback when the connection's
    `_connection` is falsy, so `_connection` is the sqlite3 connection and None once closed (the
    isolation level is set when the connection opens, so the dialect's own setter, which reaches
    further into aiosqlite, is never called; tests/storage/test_sqlite_inline.py drives this through
    the installed SQLAlchemy, and `FAST_PATHS=false` is the stock aiosqlite path).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        timeout: float,
        waiters: LockWaiters | None = None,
        yield_after: float = DEFAULT_YIELD_AFTER,
    ) -> None:
        self._connection: sqlite3.Connection | None = connection
        self.timeout = timeout
        self._waiters = waiters if waiters is not None else LockWaiters()
        self._yield_after = yield_after
        self._slice_started: float | None = None
        self._slice_task: asyncio.Task[Any] | None = None
        # The last statement opened the transaction (e.g. a deferred BEGIN): the next one may be
        # the first to take a lock, where SQLite would still consult its busy handler.
        self._fresh_transaction = False
        self._pending_begin: str | None = None

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The open sqlite3 connection (ValueError once closed, as aiosqlite says it)."""
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def _maybe_yield(self) -> None:
        """Let other tasks run when this connection has run statements for `yield_after` seconds.

        aiosqlite yields to the loop on every call; inline calls never do, so a coroutine running
        many statements between real awaits would otherwise starve the other tasks.
        """
        if self._yield_after <= 0:
            return
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if self._slice_started is None or self._slice_task is not task:
            # A new slice for this task's run; it ends as soon as the loop runs anything else.
            # Per task: one turn of a busy loop runs many tasks, and a task that takes this
            # pooled connection after another one in the same turn has not run long itself.
            self._slice_started = loop.time()
            self._slice_task = task
            loop.call_soon(self._end_slice)
        elif loop.time() - self._slice_started >= self._yield_after:
            await asyncio.sleep(0)

    def begin_before_next_statement(self, statement: str) -> None:
        """Open the transaction with `statement` (e.g. "BEGIN IMMEDIATE") right before the next one.

        What storage/db.py's "begin" listener calls instead of executing the BEGIN through
        SQLAlchemy: one statement less through the engine's execution machinery per transaction
        (bench/RESULTS.md). Nothing happens between SQLAlchemy's begin and the first statement, so
        the transaction is the same; one that runs no statement at all never opens.
        """
        self._pending_begin = statement

    async def _begin_now(self) -> None:
        statement, self._pending_begin = self._pending_begin, None
        if statement is not None:
            await self._run(self.sqlite.execute, statement)

    def _end_slice(self) -> None:
        self._slice_started = None
        self._slice_task = None

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call `function` now; on SQLITE_BUSY before any lock is held, wait asynchronously and retry."""
        conn = self.sqlite
        was_in_transaction = conn.in_transaction
        try:
            result = function(*args)
        except sqlite3.OperationalError as error:
            if not ((not was_in_transaction or self._fresh_transaction) and _is_busy(error)):
                self._fresh_transaction = False
                raise
            try:
                result = await self._retry(error, function, *args)
            except sqlite3.OperationalError as final:
                if not _is_busy(final):  # the statement ran and failed: it may hold a lock now
                    self._fresh_transaction = False
                raise
        except BaseException:
            self._fresh_transaction = False
            raise
        self._fresh_transaction = not was_in_transaction and conn.in_transaction
        return result

    async def _retry(self, error: sqlite3.OperationalError, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = FIRST_BACKOFF
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise error
            await self._waiters.wait(min(delay, remaining))
            delay = min(delay * 2, MAX_BACKOFF)
            try:
                return function(*args)
            except sqlite3.OperationalError as again:
                if not _is_busy(again):
                    raise
                error = again

    def _ended(self, was_in_transaction: bool) -> None:
        self._fresh_transaction = False
        if was_in_transaction:
            self._waiters.released()

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self.sqlite.cursor())

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        self._pending_begin = None  # no statement ran: nothing was opened, nothing to commit
        conn = self.sqlite
        was_in_transaction = conn.in_transaction
        try:
            try:
                conn.commit()
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                await self._retry(error, conn.commit)
        finally:
            self._ended(was_in_transaction and not conn.in_transaction)

    async def rollback(self) -> None:
        self._pending_begin = None
        conn = self.sqlite
        was_in_transaction = conn.in_transaction
        try:
            conn.rollback()
        finally:
            self._ended(was_in_transaction)

    async def close(self) -> None:
        if self._connection is None:
            return
        self.stop()

    def stop(self) -> None:
        """Close now, synchronously: the dialect's terminate() calls this outside a greenlet (GC)."""
        connection, self._connection = self._connection, None
        self._pending_begin = None
        if connection is None:
            return
        was_in_transaction = connection.in_transaction
        try:
            connection.close()
        finally:
            self._ended(was_in_transaction)

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], deterministic: bool = False
    ) -> None:
        self.sqlite.create_function(name, num_params, func, deterministic=deterministic)

    @property
    def in_transaction(self) -> bool:
        return self.sqlite.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self.sqlite.isolation_level = cast(_Sqlite3Isolation, value)


def inline_creator(
    path: str,
    *,
    timeout: float,
    uri: bool = False,
    isolation_level: str | None = None,
    yield_after: float = DEFAULT_YIELD_AFTER,
    **connect_kwargs: Any,
) -> Callable[[], Awaitable[InlineConnection]]:
    """The `async_creator` for `create_async_engine("sqlite+aiosqlite:///…", async_creator=…)`.

    `timeout` (seconds) is how long a statement waits, asynchronously, for another connection's
    lock, like sqlite3's `timeout`; a later `PRAGMA busy_timeout = ms` replaces it per connection.
    URL query parameters and `connect_args` are not applied with an async_creator: pass them here.
    `isolation_level` defaults to None (sqlite3 opens no transaction by itself: storage/db.py's
    "begin" listener issues BEGIN). Connections made by one
    creator wake each other's lock waiters (use one creator per engine).
    """
    waiters = LockWaiters()

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(
            path,
            timeout=0,
            isolation_level=cast(_Sqlite3Isolation, isolation_level),
            check_same_thread=False,  # stop() may come from a GC finalizer in another thread
            uri=uri,
            **connect_kwargs,
        )
        return InlineConnection(connection, timeout=timeout, waiters=waiters, yield_after=yield_after)

    return connect
