"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import apply_migrations
from storage.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"


async def test_migrating_twice_is_harmless(engine: AsyncEngine) -> None:
    await apply_migrations(engine)  # start-up runs this every time
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
