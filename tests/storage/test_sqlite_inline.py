"""The inline aiosqlite look-alike (storage/sqlite_inline.py) under SQLAlchemy's aiosqlite dialect."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Integer, String, event, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.db import _begin_sqlite, create_session_factory, setup_sqlite_engine
from storage.sqlite_inline import InlineConnection, inline_creator


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(32), default="")


def make_engine(path: Path, *, timeout: float = 15.0, pragmas: bool = True, **kwargs: Any) -> AsyncEngine:
    """storage/db.py's SQLite setup with the inline driver as the async_creator."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}", async_creator=inline_creator(str(path), timeout=timeout), **kwargs
    )
    if pragmas:
        setup_sqlite_engine(engine, driver_begins=False)
    else:  # our BEGIN without the pragmas
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "inline.sqlite3"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_path)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


class Ticker:
    """Counts ticks of a 5 ms sleep loop: proof that the event loop keeps running."""

    def __init__(self) -> None:
        self.ticks = 0
        self.max_gap = 0.0

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.ticks += 1
            self.max_gap = max(self.max_gap, now - last)
            last = now


@contextmanager
def ticking() -> Iterator[Ticker]:
    ticker = Ticker()
    task = asyncio.get_running_loop().create_task(ticker.run())
    try:
        yield ticker
    finally:
        task.cancel()


@contextmanager
def foreign_write_lock(path: Path) -> Iterator[None]:
    """Another process's writer, as far as SQLite can tell: a plain sqlite3 connection in BEGIN IMMEDIATE."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


async def test_reads_and_writes_through_the_orm(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with factory.begin() as session:
        session.add_all([Item(id=1, value=10, name="a"), Item(id=2, value=20, name="b")])
    async with factory.begin() as session:
        await session.execute(update(Item).where(Item.id == 2).values(value=Item.value + 1))
    async with factory() as session:
        item = await session.get(Item, 2)
        assert item is not None and (item.value, item.name) == (21, "b")
        assert await session.scalar(select(func.count()).select_from(Item)) == 2
    async with engine.connect() as conn:
        streamed = await conn.stream(select(Item.id).order_by(Item.id))
        assert [row.id async for row in streamed] == [1, 2]


async def test_pragmas_and_the_driver_opens_no_transaction_itself(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        # busy_timeout is the driver's asynchronous budget; SQLite's own handler never sleeps.
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 15000
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, InlineConnection)
        assert driver.timeout == 15.0
        assert driver.sqlite.execute("PRAGMA busy_timeout").fetchone() == (0,)
        # Opened in sqlite3's autocommit mode: the BEGIN is db.py's "begin" listener's.
        assert driver.isolation_level is None


async def test_integrity_error_is_sqlalchemys(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory.begin() as session:
        session.add(Item(id=1))
    with pytest.raises(IntegrityError):
        async with factory.begin() as session:
            session.add(Item(id=1))
    async with factory.begin() as session:  # the pooled connection is still good
        session.add(Item(id=2))
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 2


async def test_writer_waits_for_a_writer_of_the_same_loop_without_blocking_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory.begin() as session:
        session.add(Item(id=1, value=0))
    holding = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with factory.begin() as session:
            await session.execute(update(Item).values(value=Item.value + 1))
            holding.set()
            await asyncio.sleep(0.3)  # keeps the write lock across an await
            order.append("first")

    async def second() -> None:
        await holding.wait()
        async with factory.begin() as session:  # BEGIN IMMEDIATE meets the lock
            await session.execute(update(Item).values(value=Item.value + 10))
        order.append("second")

    with ticking() as ticker:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)
        elapsed = time.perf_counter() - started
    assert order == ["first", "second"]
    assert elapsed < 2
    assert ticker.ticks >= 20  # ~60 possible in 0.3 s; a blocked loop would give ~1
    assert ticker.max_gap < 0.1
    async with factory() as session:
        item = await session.get(Item, 1)
        assert item is not None and item.value == 11


async def test_many_concurrent_writers_on_a_pool(db_path: Path) -> None:
    engine = make_engine(db_path, pool_size=4, max_overflow=2)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        factory = create_session_factory(engine)
        async with factory.begin() as session:
            session.add(Item(id=1, value=0))

        async def writer() -> None:
            for _ in range(5):
                async with factory.begin() as session:
                    await session.execute(update(Item).values(value=Item.value + 1))
                    await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(*(writer() for _ in range(50))), timeout=30)
        async with factory() as session:
            item = await session.get(Item, 1)
            assert item is not None and item.value == 250
    finally:
        await engine.dispose()


async def test_writer_waits_for_another_process_and_the_loop_keeps_running(
    db_path: Path, factory: async_sessionmaker[AsyncSession]
) -> None:
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.rollback()

    try:
        with ticking() as ticker:
            releaser = asyncio.create_task(release_later())
            async with factory.begin() as session:  # polled with backoff: no in-process wake-up
                session.add(Item(id=1))
            await releaser
    finally:
        other.close()
    assert ticker.ticks >= 20
    assert ticker.max_gap < 0.1
    async with factory() as session:
        assert await session.get(Item, 1) is not None


@pytest.mark.parametrize("via_pragma", [False, True])
async def test_timeout_raises_database_is_locked(db_path: Path, via_pragma: bool) -> None:
    if via_pragma:  # the creator's timeout is long; the connect-time PRAGMA replaces it
        engine = make_engine(db_path, timeout=30, pragmas=False)

        @event.listens_for(engine.sync_engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=300")
            cursor.close()

    else:
        engine = make_engine(db_path, timeout=0.3, pragmas=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        factory = create_session_factory(engine)
        with ticking() as ticker, foreign_write_lock(db_path):
            started = time.perf_counter()
            with pytest.raises(OperationalError, match="database is locked"):
                async with factory.begin() as session:
                    session.add(Item(id=1))
            elapsed = time.perf_counter() - started
        assert 0.25 <= elapsed < 1.5
        assert ticker.ticks >= 20
        async with factory.begin() as session:  # lock gone: works again on the same pool
            session.add(Item(id=1))
    finally:
        await engine.dispose()


async def test_invalidate_terminates_and_the_pool_reconnects(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, InlineConnection)
        await conn.invalidate()
        assert driver._connection is None
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
