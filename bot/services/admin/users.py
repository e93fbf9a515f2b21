"""Customers as the admins see them: lookup by id or @username, a profile card, ban and unban."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.audit import write_audit
from bot.services.users import UserService
from storage.models import LedgerEntry, Order, User
from storage.repositories.ledger import LedgerRepository
from storage.repositories.orders import OrderRepository
from storage.repositories.users import UserRepository

USERNAME_LIMIT = 64


@dataclass(frozen=True)
class UserCard:
    user: User
    balance: Decimal
    ledger: list[LedgerEntry]
    orders: list[Order]
    order_count: int


def parse_user_ref(text: str) -> int | str | None:
    """`12345` -> 12345, `@name` or `name` -> "name"; None when it cannot be either."""
    raw = text.strip()
    if raw.isdecimal() and len(raw) <= 15:
        return int(raw)
    name = raw.removeprefix("@")
    if name and len(name) <= USERNAME_LIMIT and all(c.isalnum() or c == "_" for c in name):
        return name
    return None


class AdminUsers:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], users: UserService | None = None
    ) -> None:
        self.session_factory = session_factory
        self.users = users  # its cached profiles must learn of a ban at once

    async def find(self, ref: int | str) -> User | None:
        async with self.session_factory() as session:
            users = UserRepository(session)
            if isinstance(ref, int):
                return await users.get(ref)
            return await users.get_by_username(ref)

    async def card(self, user_id: int, *, lines: int = 5) -> UserCard | None:
        async with self.session_factory() as session:
            user = await UserRepository(session).get(user_id)
            if user is None:
                return None
            ledger = LedgerRepository(session)
            orders = OrderRepository(session)
            return UserCard(
                user=user,
                balance=await ledger.balance(user_id),
                ledger=await ledger.history(user_id, limit=lines),
                orders=await orders.list_for_user(user_id, limit=lines),
                order_count=await orders.count_for_user(user_id),
            )

    async def set_banned(self, admin_id: int, user_id: int, banned: bool) -> bool:
        async with self.session_factory.begin() as session:
            changed = await UserRepository(session).set_banned(user_id, banned)
            if changed:
                await write_audit(session, admin_id, "user.ban" if banned else "user.unban", user_id=user_id)
        if self.users is not None:
            self.users.forget(user_id)
        return changed
