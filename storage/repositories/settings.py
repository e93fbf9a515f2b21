"""Run-time settings the admins change without a restart."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AppSetting


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> str | None:
        row = await self.session.get(AppSetting, key)
        return None if row is None else row.value

    async def set(self, key: str, value: str | None) -> None:
        row = await self.session.get(AppSetting, key)
        if value is None:
            if row is not None:
                await self.session.delete(row)
            return
        if row is None:
            self.session.add(AppSetting(key=key, value=value))
        else:
            row.value = value
        await self.session.flush()

    async def all(self) -> dict[str, str]:
        result = await self.session.execute(select(AppSetting))
        return {row.key: row.value for row in result.scalars()}
