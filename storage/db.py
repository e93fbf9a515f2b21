"""Engine, sessions and schema migrations."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.liveness import POOL_RECYCLE_SECONDS, ping_idle_connections
from storage.sqlite_inline import InlineConnection, inline_creator

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_READ_ONLY = "smm_sqlite_read_only"  # execution option: start the transaction deferred
SQLITE_INLINE = "smm_sqlite_inline"  # execution option: the engine runs storage/sqlite_inline.py


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; busy_timeout waits for the writer instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(
    database_url: str, *, echo: bool = False, fast_paths: bool = True, **engine_options: Any
) -> AsyncEngine:
    """Create the async engine; for SQLite also create the data folder and set the pragmas.

    `fast_paths` (the `FAST_PATHS` setting) runs a SQLite database file through the inline driver of
    storage/sqlite_inline.py, the one place the storage departs from its libraries' stock paths
    (its measured gain: bench/RESULTS.md); `False` is aiosqlite as shipped. `engine_options` go to
    SQLAlchemy as they are (pool size, …).
    """
    kwargs: dict[str, Any] = {"echo": echo, **engine_options}
    inline = False
    if database_url.startswith("sqlite"):
        url = make_url(database_url)
        path = url.database or ""
        on_disk = bool(path) and not path.startswith(":memory:")
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if fast_paths and on_disk and not url.query:
            # sqlite3 calls run in the event loop thread, without aiosqlite's thread hop per call;
            # lock waits are asynchronous retries (storage/sqlite_inline.py, bench/RESULTS.md).
            kwargs["async_creator"] = inline_creator(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            kwargs["execution_options"] = {SQLITE_INLINE: True}
            inline = True
        else:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
        # The most recently returned connection goes out first: asyncpg prepares a statement once
        # per connection, so a hot connection answers with no Parse round trip, and the spare ones
        # stay idle instead of each warming up in turn (bench/round_trips.py, bench/RESULTS.md).
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_async_engine(database_url, **kwargs)
    if engine.dialect.name == "sqlite":
        setup_sqlite_engine(engine, driver_begins=not inline)
    else:
        ping_idle_connections(engine)  # not a ping per checkout (storage/liveness.py)
    return engine


def setup_sqlite_engine(engine: AsyncEngine, *, driver_begins: bool = True) -> None:
    """Pragmas on every new connection, and our own BEGIN instead of the driver's.

    The driver's default BEGIN is deferred; take the write lock at BEGIN so read-then-write
    transactions don't fail with "database is locked" on upgrade. Read sessions (see
    create_session_factory) start deferred: a WAL reader needs no lock and must not queue behind
    the writer. This is SQLAlchemy's documented recipe for SQLite transactions ("connect" sets the
    driver's isolation_level to None, "begin" emits our BEGIN); the inline driver opens its
    connections that way already (`driver_begins=False`).
    """
    event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    if driver_begins:
        event.listen(engine.sync_engine, "connect", _no_driver_begin)
    event.listen(engine.sync_engine, "begin", _begin_sqlite)


def _no_driver_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_sqlite(conn: Connection) -> None:
    read_only = conn.get_execution_options().get(SQLITE_READ_ONLY, False)
    statement = "BEGIN" if read_only else "BEGIN IMMEDIATE"
    driver = conn.connection.driver_connection
    if isinstance(driver, InlineConnection):
        driver.begin_before_next_statement(statement)  # no trip through the engine for it
    else:
        conn.exec_driver_sql(statement)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """`factory()` for reads, `factory.begin()` for writes (SQLAlchemy's own split, used by every service).

    A plain `factory()` session never commits: whatever it would write is rolled back when it
    closes, on every database. On SQLite it is also bound with the `SQLITE_READ_ONLY` execution
    option, so its transaction starts with a deferred BEGIN (a WAL snapshot, no lock) instead of
    BEGIN IMMEDIATE; `factory.begin()` sessions keep BEGIN IMMEDIATE. Profiling the conversation
    benchmark showed every read queueing for the one write lock (bench/RESULTS.md).
    """
    if engine.dialect.name != "sqlite":
        return async_sessionmaker(engine, expire_on_commit=False)
    return SQLiteSessionMaker(engine)


class SQLiteSessionMaker(async_sessionmaker[AsyncSession]):
    """Reads on a deferred BEGIN; `begin()` writes on BEGIN IMMEDIATE, committed and closed in place.

    A write session is closed right where it ends (`AsyncSession.close()`), not in the task of its
    own that `async with session` starts for it: until that task ran at the event loop's next
    turn, the connection stayed checked out and, on the inline driver, the next writer waited a
    whole turn of a busy loop (a lock convoy, bench/RESULTS.md fix 9).

    Through aiosqlite (`FAST_PATHS=false`, or a database URL with options), write sessions of this
    process also take turns on an asyncio lock. SQLite has one writer; through aiosqlite concurrent
    writers all issue BEGIN IMMEDIATE and the losers sleep in SQLite's busy handler (1, 2, 5 … 100
    ms naps in aiosqlite's threads) however soon the writer finishes. Queued on the lock they start
    the moment the previous write commits, in arrival order. Another process on the same file still
    meets the busy timeout, as before; so does a wait on the lock longer than it. The inline driver
    needs no lock: a short write transaction runs from BEGIN to COMMIT without giving the event
    loop away, and a long one that meets another makes it wait asynchronously
    (storage/sqlite_inline.py).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        inline = bool(engine.get_execution_options().get(SQLITE_INLINE))
        super().__init__(engine.execution_options(**{SQLITE_READ_ONLY: True}), expire_on_commit=False)
        self.write_engine = engine
        self.write_lock: asyncio.Lock | None = None if inline else asyncio.Lock()

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:  # type: ignore[override]
        return self.writing()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A write session (what `begin()` returns): BEGIN IMMEDIATE, committed and closed in place."""
        async with self.writer_turn():
            session = self(bind=self.write_engine)
            try:
                async with session.begin():  # commits or rolls back in place
                    yield session
            finally:
                await session.close()

    @asynccontextmanager
    async def writer_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (aiosqlite only), waited for as long as the busy timeout."""
        if self.write_lock is None:
            yield
            return
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await self.write_lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        try:
            yield
        finally:
            self.write_lock.release()


def read_connection(
    factory: async_sessionmaker[AsyncSession],
) -> AbstractAsyncContextManager[AsyncConnection]:
    """A Core connection for one read, for the few reads every update makes.

    Every update reads its conversation state and its sender; through a plain connection instead
    of an ORM session such a read costs half the CPU (bench/RESULTS.md). Same engine (and on
    SQLite the same deferred, lock-free transaction) as a `factory()` session.
    """
    return _connection(factory, write=False)


def write_connection(
    factory: async_sessionmaker[AsyncSession],
) -> AbstractAsyncContextManager[AsyncConnection]:
    """A Core connection in a write transaction (committed at the end), like `factory.begin()`."""
    return _connection(factory, write=True)


@asynccontextmanager
async def _connection(
    factory: async_sessionmaker[AsyncSession], *, write: bool
) -> AsyncIterator[AsyncConnection]:
    sqlite = factory if isinstance(factory, SQLiteSessionMaker) else None
    engine: AsyncEngine = sqlite.write_engine if sqlite and write else factory.kw["bind"]
    if sqlite and sqlite.write_lock is None:  # the inline driver: commit and close in place, see above
        connection = AsyncConnection(engine)
        await connection.start()
        try:
            yield connection
            if write:
                await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        finally:
            await connection.close()
    elif write:
        async with sqlite.writer_turn() if sqlite else nullcontext(), engine.begin() as connection:
            yield connection
    else:
        async with engine.connect() as connection:
            yield connection


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def apply_migrations(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; run at every start-up."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    log.info("database schema is up to date")


@asynccontextmanager
async def database(
    database_url: str, *, migrate: bool = True, fast_paths: bool = True
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """Engine plus session factory for the lifetime of a block; disposes the pool at the end."""
    engine = create_engine(database_url, fast_paths=fast_paths)
    try:
        if migrate:
            await apply_migrations(engine)
        yield engine, create_session_factory(engine)
    finally:
        await asyncio.shield(engine.dispose())
