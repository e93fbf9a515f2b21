"""Customers: registration on first contact, language, wallet view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import LedgerEntry, utcnow
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository

SEEN_REFRESH = timedelta(minutes=5)


@dataclass(frozen=True)
class UserProfile:
    id: int
    username: str | None
    first_name: str
    language_code: str | None
    locale: str | None
    is_banned: bool
    created: bool = False


class UserService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def register(
        self, user_id: int, *, username: str | None, first_name: str, language_code: str | None
    ) -> UserProfile:
        """Create or refresh the user; writes only when something changed or `last_seen` is stale."""
        async with self.session_factory() as session:
            user = await UserRepository(session).get(user_id)
            fresh = (
                user is not None
                and user.username == username
                and user.first_name == first_name
                and user.language_code == language_code
                and not user.blocked_bot
                and utcnow() - user.last_seen_at < SEEN_REFRESH
            )
            if user is not None and fresh:
                return self._profile(
                    user.id, user.username, user.first_name, user.language_code, user.locale, user.is_banned
                )
        async with self.session_factory.begin() as session:
            user, created = await UserRepository(session).touch(
                user_id, username=username, first_name=first_name, language_code=language_code
            )
            return self._profile(
                user.id,
                user.username,
                user.first_name,
                user.language_code,
                user.locale,
                user.is_banned,
                created,
            )

    @staticmethod
    def _profile(
        user_id: int,
        username: str | None,
        first_name: str,
        language_code: str | None,
        locale: str | None,
        banned: bool,
        created: bool = False,
    ) -> UserProfile:
        return UserProfile(user_id, username, first_name, language_code, locale, banned, created)

    async def set_locale(self, user_id: int, locale: str) -> None:
        async with self.session_factory.begin() as session:
            await UserRepository(session).set_locale(user_id, locale)

    async def wallet(self, user_id: int, *, history: int = 10) -> tuple[Decimal, list[LedgerEntry]]:
        async with self.session_factory() as session:
            ledger = LedgerRepository(session)
            return await ledger.balance(user_id), await ledger.history(user_id, limit=history)

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> None:
        """The user blocked the bot: stop messaging them until they write again."""
        async with self.session_factory.begin() as session:
            await UserRepository(session).mark_blocked(user_id, blocked)
