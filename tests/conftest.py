"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.panel import PanelClient
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from storage.db import apply_migrations, create_engine, create_session_factory

BASE_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def worker_index() -> int:
    """0 in a plain run; N for pytest-xdist's worker gwN (each worker gets its own databases)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


REDIS_BASE_URL = os.environ.get("TEST_REDIS_BASE_URL", "redis://127.0.0.1:6379").rstrip("/")


def redis_test_url(db: int) -> str:
    """A Redis database for one group of tests, distinct per xdist worker (`TEST_REDIS_BASE_URL`
    points the tests at another Redis server, e.g. one per checkout on a shared machine)."""
    return f"{REDIS_BASE_URL}/{db - 2 * worker_index()}"


POSTGRES_URL = (
    BASE_POSTGRES_URL if "PYTEST_XDIST_WORKER" not in os.environ else f"{BASE_POSTGRES_URL}_w{worker_index()}"
)
_pg_status: dict[str, str | None] = {}


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql")


async def postgres_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why the PostgreSQL variant of a test is skipped."""
    if "reason" in _pg_status:
        return _pg_status["reason"]
    reason: str | None = None
    try:
        import asyncpg

        conn = await asyncpg.connect(_dsn(BASE_POSTGRES_URL), timeout=3)
        try:
            if POSTGRES_URL != BASE_POSTGRES_URL:
                name = POSTGRES_URL.rsplit("/", 1)[1]
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
    except Exception as error:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL.split('@')[-1]} ({type(error).__name__})"
    _pg_status["reason"] = reason
    return reason


async def reset_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(POSTGRES_URL))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def backends() -> list[str]:
    """`TEST_DATABASE=postgresql` runs the database-backed suites on PostgreSQL only."""
    wanted = os.environ.get("TEST_DATABASE", "").strip().lower()
    if wanted.startswith("postgres"):
        return ["postgresql"]
    return ["sqlite", "postgresql"]


@pytest.fixture(params=backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        return
    reason = await postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    await reset_postgres()
    yield POSTGRES_URL


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await apply_migrations(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


# --- the panel simulator and the real client against it ------------------------------------------

SIM_KEY = "sim-key-5e1f0c7a9b"


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    """The panel simulator with the realistic catalog, on a free port of 127.0.0.1."""
    state = PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0)
    async with run_panel_simulator(state) as handle:
        yield handle


@pytest.fixture
async def panel(sim: SimulatorHandle) -> AsyncIterator[PanelClient]:
    client = PanelClient(sim.url, SIM_KEY, timeout=1.0, max_requests_per_second=1000, retry_backoff=0.01)
    try:
        yield client
    finally:
        await client.close()
