"""Shop settings the owner changes at run time (welcome text, maintenance mode)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories.settings import SettingsRepository

WELCOME_TEXT = "welcome_text"
MAINTENANCE = "maintenance"


class ShopSettings:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def get(self, key: str) -> str | None:
        async with self.session_factory() as session:
            return await SettingsRepository(session).get(key)

    async def set(self, key: str, value: str | None) -> None:
        async with self.session_factory.begin() as session:
            await SettingsRepository(session).set(key, value)

    async def welcome_text(self) -> str | None:
        """The owner's welcome message (already Telegram HTML), or None for the default."""
        return await self.get(WELCOME_TEXT)

    async def maintenance_message(self) -> str | None:
        """When set, new orders are paused and customers see this text."""
        return await self.get(MAINTENANCE)
