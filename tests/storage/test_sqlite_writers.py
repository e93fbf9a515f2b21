"""SQLite has one writer: this process's writers queue in arrival order instead of napping in
SQLite's busy handler, and a writer that never finishes makes the others fail cleanly, not hang."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

import storage.db
from storage.db import database
from storage.repositories.settings import SettingsRepository


async def test_concurrent_writers_all_commit_in_arrival_order(tmp_path: Path) -> None:
    async with database(f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}") as (_, factory):
        committed: list[int] = []

        async def writer(n: int) -> None:
            async with factory.begin() as session:
                await SettingsRepository(session).set(f"k{n}", str(n))
                await asyncio.sleep(0.005)  # the write lock is held across an await
            committed.append(n)

        tasks = []
        for n in range(40):
            tasks.append(asyncio.create_task(writer(n)))
            await asyncio.sleep(0)  # each task reaches the queue before the next starts
        await asyncio.gather(*tasks)
        assert committed == list(range(40))
        async with factory() as session:
            assert await SettingsRepository(session).get("k39") == "39"


async def test_a_writer_that_never_finishes_fails_the_next_one_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    async with database(f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}") as (_, factory):
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
        async with factory.begin() as session:  # the queue works again
            await SettingsRepository(session).set("b", "2")
