"""Dead PostgreSQL connections are replaced without a ping per checkout (storage/liveness.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.round_trips import PostgresCounter, relay, via
from storage.db import create_engine
from storage.liveness import ping_idle_connections
from tests.conftest import POSTGRES_URL, _dsn, postgres_unavailable_reason


@pytest.fixture
async def pg() -> str:
    reason = await postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


async def terminate_other_connections(url: str) -> int:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return len(rows)


async def test_an_idle_connection_killed_by_the_server_is_replaced(pg: str) -> None:
    engine = create_async_engine(pg)
    ping_idle_connections(engine, idle_seconds=0.2)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        assert await terminate_other_connections(pg) >= 1  # e.g. a database restart
        await asyncio.sleep(0.3)
        async with engine.connect() as connection:  # no error: the dead one was pinged and dropped
            assert (await connection.execute(text("SELECT 2"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_a_busy_pool_pings_nothing(pg: str) -> None:
    counter = PostgresCounter()
    url = make_url(pg)
    async with relay(url.host or "127.0.0.1", url.port or 5432, counter) as port:
        engine = create_engine(via(pg, port))
        try:
            async with engine.connect() as connection:  # connects (start-up not counted below)
                await connection.execute(text("SELECT 1"))
            before = counter.round_trips
            for _ in range(20):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            # BEGIN, SELECT, ROLLBACK each: a ping per checkout would add three more.
            assert counter.round_trips - before == 20 * 3
        finally:
            await engine.dispose()
