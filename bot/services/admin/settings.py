"""Run-time shop settings from the admin menu: the welcome message and maintenance mode."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.audit import write_audit
from bot.services.settings import MAINTENANCE, WELCOME_TEXT, ShopSettings
from storage.repositories.settings import SettingsRepository

WELCOME_LIMIT = 4000
MAINTENANCE_LIMIT = 1000


class ShopAdmin:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], shop: ShopSettings) -> None:
        self.session_factory = session_factory
        self.shop = shop

    async def welcome(self) -> str | None:
        return await self.shop.welcome_text()

    async def maintenance(self) -> str | None:
        return await self.shop.maintenance_message()

    async def set_welcome(self, admin_id: int, html: str | None) -> None:
        """Store the welcome message (Telegram HTML the caller has checked), or None for the default."""
        await self._set(admin_id, WELCOME_TEXT, html, "settings.welcome")

    async def set_maintenance(self, admin_id: int, text: str | None) -> None:
        """Pause new orders with this (plain) text for customers, or None to take orders again."""
        await self._set(admin_id, MAINTENANCE, text, "settings.maintenance")

    async def _set(self, admin_id: int, key: str, value: str | None, action: str) -> None:
        async with self.session_factory.begin() as session:
            await SettingsRepository(session).set(key, value)
            await write_audit(session, admin_id, action, value=value)
        self.shop.invalidate()
