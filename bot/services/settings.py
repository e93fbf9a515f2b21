"""Shop settings the owner changes at run time (welcome text, maintenance mode).

They are read on many screens and change rarely, so values are kept for a few seconds: a change made
on this instance shows at once (`invalidate`), one made on another instance within `ttl` seconds.
"""

from __future__ import annotations

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories.settings import SettingsRepository

WELCOME_TEXT = "welcome_text"
MAINTENANCE = "maintenance"
_UNREAD = object()


class ShopSettings:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, ttl: float = 5.0) -> None:
        self.session_factory = session_factory
        self._cache: TTLCache[str, str | None] = TTLCache(64, ttl=ttl)

    async def get(self, key: str) -> str | None:
        found = self._cache.get(key, _UNREAD)
        if found is None or isinstance(found, str):  # kept: a value, or "not set"
            return found
        async with self.session_factory() as session:
            value = await SettingsRepository(session).get(key)
        self._cache[key] = value
        return value

    async def set(self, key: str, value: str | None) -> None:
        async with self.session_factory.begin() as session:
            await SettingsRepository(session).set(key, value)
        self.invalidate()

    def invalidate(self) -> None:
        """Forget cached values (after a change written elsewhere on this instance)."""
        self._cache.clear()

    async def welcome_text(self) -> str | None:
        """The owner's welcome message (already Telegram HTML), or None for the default."""
        return await self.get(WELCOME_TEXT)

    async def maintenance_message(self) -> str | None:
        """When set, new orders are paused and customers see this text."""
        return await self.get(MAINTENANCE)
