"""Customers: registration on first contact, language, wallet view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from cachetools import TTLCache
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import read_connection
from storage.models import LedgerEntry, utcnow
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository, profile_row

SEEN_REFRESH = timedelta(minutes=5)
# Every update asks who is writing; a profile read in the last few seconds answers without the
# database (one transaction per update less, bench/RESULTS.md). Changes made in this process apply
# at once: language (this service), bans (the admin console) and "blocked the bot" marks (the
# notifier, broadcasts, balance messages) call `forget`. A ban made on another instance (or straight
# in the database) applies within PROFILE_TTL. Money never comes from here: balances are read fresh.
PROFILE_TTL = 5.0
PROFILES_KEPT = 20_000


# Top-up credits are keyed by how they were paid (bot/services/topups/service.py `*_key`).
TOPUP_METHOD_OF_KEY = (
    ("topup:stars:", "stars"),
    ("topup:cryptopay:", "cryptopay"),
    ("topup:manual:", "manual"),
)


@dataclass(frozen=True)
class StatementLine:
    """One balance change as the customer reads it: what happened, never the internal note."""

    when: datetime
    amount: Decimal
    kind: str
    order_id: int | None = None
    order_state: str | None = None  # the order's state now (a refund says why it came back)
    method: str | None = None  # a top-up's payment method, when its key names one

    @classmethod
    def of(cls, entry: LedgerEntry, order_state: str | None) -> StatementLine:
        method = next((name for prefix, name in TOPUP_METHOD_OF_KEY if entry.key.startswith(prefix)), None)
        return cls(
            when=entry.created_at,
            amount=entry.amount,
            kind=entry.kind,
            order_id=entry.order_id,
            order_state=order_state,
            method=method,
        )


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
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        profile_ttl: float = PROFILE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_factory = session_factory
        # user id -> (profile, its last_seen_at) as read or written in the last few seconds
        self._known: TTLCache[int, tuple[UserProfile, datetime]] = TTLCache(
            PROFILES_KEPT, ttl=profile_ttl, timer=clock
        )

    async def register(
        self, user_id: int, *, username: str | None, first_name: str, language_code: str | None
    ) -> UserProfile:
        """Create or refresh the user; writes only when something changed or `last_seen` is stale."""
        known = self._known.get(user_id, None)
        if known is not None and self._unchanged(*known, username, first_name, language_code):
            return known[0]
        async with read_connection(self.session_factory) as connection:
            row = await profile_row(connection, user_id)
        if row is not None and not row.blocked_bot:
            profile = self._profile(
                row.id, row.username, row.first_name, row.language_code, row.locale, row.is_banned
            )
            if self._unchanged(profile, row.last_seen_at, username, first_name, language_code):
                self._known[user_id] = (profile, row.last_seen_at)
                return profile
        try:
            profile, last_seen = await self._touch(user_id, username, first_name, language_code)
        except IntegrityError:
            # A first contact in two chats at once (a group and the private chat): the other
            # update created the row meanwhile, so this one refreshes it.
            profile, last_seen = await self._touch(user_id, username, first_name, language_code)
        self._known[user_id] = (replace(profile, created=False), last_seen)
        return profile

    async def _touch(
        self, user_id: int, username: str | None, first_name: str, language_code: str | None
    ) -> tuple[UserProfile, datetime]:
        async with self.session_factory.begin() as session:
            user, created = await UserRepository(session).touch(
                user_id, username=username, first_name=first_name, language_code=language_code
            )
            profile = self._profile(
                user.id,
                user.username,
                user.first_name,
                user.language_code,
                user.locale,
                user.is_banned,
                created,
            )
            return profile, user.last_seen_at

    @staticmethod
    def _unchanged(
        profile: UserProfile,
        last_seen_at: datetime,
        username: str | None,
        first_name: str,
        language_code: str | None,
    ) -> bool:
        return (
            profile.username == username
            and profile.first_name == first_name
            and profile.language_code == language_code
            and utcnow() - last_seen_at < SEEN_REFRESH
        )

    def forget(self, user_id: int) -> None:
        """The stored profile changed (ban, language, blocked): read it again on the next update."""
        self._known.pop(user_id, None)

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
        self.forget(user_id)

    async def wallet(self, user_id: int, *, history: int = 10) -> tuple[Decimal, list[LedgerEntry]]:
        async with self.session_factory() as session:
            ledger = LedgerRepository(session)
            return await ledger.balance(user_id), await ledger.history(user_id, limit=history)

    async def statement(self, user_id: int, *, history: int = 10) -> tuple[Decimal, list[StatementLine]]:
        """The balance and the newest ledger entries as facts a customer's sentence is made of."""
        async with self.session_factory() as session:
            ledger = LedgerRepository(session)
            balance = await ledger.balance(user_id)
            rows = await ledger.history_with_order_states(user_id, limit=history)
        return balance, [StatementLine.of(entry, state) for entry, state in rows]

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> None:
        """The user blocked the bot: stop messaging them until they write again."""
        async with self.session_factory.begin() as session:
            await UserRepository(session).mark_blocked(user_id, blocked)
        self.forget(user_id)
