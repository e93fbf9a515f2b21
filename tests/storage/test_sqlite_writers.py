"""SQLite has one writer: concurrent writers of this process all commit, without napping in
SQLite's busy handler, and a writer that never finishes makes the others fail cleanly, not hang.
Both drivers: the inline one (the default for a database file) and aiosqlite (with its queue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import storage.db
from storage.db import apply_migrations, create_engine, create_session_factory
from storage.repositories.settings import SettingsRepository

DRIVERS = [pytest.param(True, id="inline"), pytest.param(False, id="aiosqlite")]


@asynccontextmanager
async def sqlite_factory(tmp_path: Path, inline: bool) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}", fast_paths=inline)
    try:
        await apply_migrations(engine)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("inline", DRIVERS)
async def test_concurrent_writers_all_commit(tmp_path: Path, inline: bool) -> None:
    async with sqlite_factory(tmp_path, inline) as factory:
        committed: list[int] = []

        async def writer(n: int) -> None:
            async with factory.begin() as session:
                await SettingsRepository(session).set(f"k{n}", str(n))
                if n % 4 == 0:
                    await asyncio.sleep(0.005)  # some hold the write lock across an await
            committed.append(n)

        tasks = []
        for n in range(40):
            tasks.append(asyncio.create_task(writer(n)))
            await asyncio.sleep(0)  # each task reaches BEGIN before the next starts
        await asyncio.gather(*tasks)
        assert sorted(committed) == list(range(40))
        if not inline:
            assert committed == list(range(40))  # aiosqlite's writers queue in arrival order
        async with factory() as session:
            assert await SettingsRepository(session).get("k39") == "39"


@pytest.mark.parametrize("inline", DRIVERS)
async def test_a_writer_that_never_finishes_fails_the_next_one_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    async with sqlite_factory(tmp_path, inline) as factory:
        release = asyncio.Event()

        async def stuck() -> None:
            async with factory.begin() as session:
                await SettingsRepository(session).set("a", "1")
                await release.wait()

        holder = asyncio.create_task(stuck())
        await asyncio.sleep(0.05)
        with pytest.raises(OperationalError, match="database is locked"):
            async with factory.begin() as session:
                await SettingsRepository(session).set("b", "2")
        release.set()
        await holder
        async with factory.begin() as session:  # writing works again
            await SettingsRepository(session).set("b", "2")


@pytest.mark.parametrize("inline", DRIVERS)
async def test_plain_connections_write_beside_sessions_and_roll_back_on_error(
    tmp_path: Path, inline: bool
) -> None:
    """The conversation state's Core connections (storage.db.write_connection) take the same turns."""
    from sqlalchemy import text

    from storage.db import read_connection, write_connection

    async with sqlite_factory(tmp_path, inline) as factory:

        async def through_connection(n: int) -> None:
            async with write_connection(factory) as connection:
                await connection.execute(
                    text("INSERT INTO app_settings (key, value) VALUES (:k, :v)"), {"k": f"c{n}", "v": str(n)}
                )
                if n % 4 == 0:
                    await asyncio.sleep(0.005)  # holds the write lock across an await

        async def through_session(n: int) -> None:
            async with factory.begin() as session:
                await SettingsRepository(session).set(f"s{n}", str(n))

        await asyncio.gather(*(f(n) for n in range(20) for f in (through_connection, through_session)))
        with pytest.raises(RuntimeError):
            async with write_connection(factory) as connection:
                await connection.execute(text("INSERT INTO app_settings (key, value) VALUES ('lost', '1')"))
                raise RuntimeError("the handler failed")
        async with read_connection(factory) as connection:
            keys = set((await connection.execute(text("SELECT key FROM app_settings"))).scalars())
        assert {f"c{n}" for n in range(20)} | {f"s{n}" for n in range(20)} <= keys
        assert "lost" not in keys
