"""What each upstream panel supports (bot/panel/capabilities.py), one row per panel URL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PanelCapability

FLAGS = ("bulk_status", "refill", "cancel", "dripfeed", "currency")


class PanelCapabilityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, panel: str) -> PanelCapability | None:
        return await self.session.get(PanelCapability, panel)

    async def save(self, panel: str, url: str, flags: dict[str, Any], now: datetime) -> None:
        """Insert or update in one statement (two instances may learn the same thing at once)."""
        values = {name: flags.get(name) for name in FLAGS}
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert_fn(PanelCapability).values(
            panel=panel, url=url, details={}, updated_at=now, **values
        )
        statement = statement.on_conflict_do_update(
            index_elements=["panel"], set_={"url": url, "updated_at": now, **values}
        )
        await self.session.execute(statement)
