"""The money ledger: the only way a balance changes.

Every change is one `LedgerEntry` plus the matching change of `users.balance` in the same transaction,
so the cached balance always equals the sum of the entries. Debits are conditional in SQL
(`balance + amount >= 0`), which holds under concurrency on SQLite (one writer) and PostgreSQL
(row lock). An entry's `key` is unique: applying the same key twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from storage.models import LedgerEntry, Order, User
from storage.repositories.rows import insert_new
from storage.types import Money, to_money

_USERS = cast(Table, User.__table__)
# Prepared once: the conditional balance change of every ledger entry (a debit never goes below 0).
_CREDIT = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(balance=_USERS.c.balance + bindparam("amount", type_=Money))
    .returning(_USERS.c.balance)
)
_DEBIT = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"), _USERS.c.balance >= bindparam("floor", type_=Money))
    .values(balance=_USERS.c.balance + bindparam("amount", type_=Money))
    .returning(_USERS.c.balance)
)


class InsufficientFunds(Exception):
    """The debit would take the balance below zero."""

    def __init__(self, balance: Decimal, needed: Decimal) -> None:
        super().__init__(f"balance {balance} is short of {needed}")
        self.balance = balance
        self.needed = needed

    @property
    def shortfall(self) -> Decimal:
        return self.needed - self.balance


class UnknownUser(Exception):
    """A ledger entry for a user that does not exist."""


@dataclass(frozen=True)
class LedgerResult:
    entry: LedgerEntry
    applied: bool  # False when an entry with this key existed already


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_key(self, key: str) -> LedgerEntry | None:
        result = await self.session.execute(select(LedgerEntry).where(LedgerEntry.key == key))
        return result.scalars().first()

    async def apply(
        self,
        *,
        user_id: int,
        amount: Decimal,
        kind: str,
        key: str,
        order_id: int | None = None,
        note: str | None = None,
        actor_id: int | None = None,
        new_key: bool = False,
    ) -> LedgerResult:
        """Add `amount` (negative for a debit) to the user's balance exactly once per `key`.

        `new_key=True` when no entry can hold `key` yet because it names a row this transaction
        created (an order's charge, written with the order): the lookup and the savepoint are
        skipped, two of the statements on the way to placing an order (bench/RESULTS.md). A
        clash then fails the whole transaction, as the key's uniqueness demands.
        """
        amount = to_money(amount)
        if new_key:
            entry, balance_after = await self._write(user_id, amount, kind, key, order_id, note, actor_id)
        else:
            existing = await self.by_key(key)
            if existing is not None:
                return LedgerResult(existing, applied=False)
            try:
                async with self.session.begin_nested():
                    entry, balance_after = await self._write(
                        user_id, amount, kind, key, order_id, note, actor_id
                    )
            except IntegrityError:
                # Someone applied the same key concurrently; their entry stands, ours was rolled back.
                existing = await self.by_key(key)
                if existing is None:
                    raise
                return LedgerResult(existing, applied=False)
        cached = self.session.identity_map.get(identity_key(User, user_id))
        if cached is not None:  # keep a loaded User in step with the SQL update
            set_committed_value(cached, "balance", balance_after)
        return LedgerResult(entry, applied=True)

    async def _write(
        self,
        user_id: int,
        amount: Decimal,
        kind: str,
        key: str,
        order_id: int | None,
        note: str | None,
        actor_id: int | None,
    ) -> tuple[LedgerEntry, Decimal]:
        """The conditional balance change and its entry (the caller ensures `key` is new)."""
        connection = await self.session.connection()
        if amount < 0:
            result = await connection.execute(
                _DEBIT, {"user_id": user_id, "amount": amount, "floor": -amount}
            )
        else:
            result = await connection.execute(_CREDIT, {"user_id": user_id, "amount": amount})
        balance_after = result.scalar_one_or_none()
        if balance_after is None:
            user = await self.session.get(User, user_id, populate_existing=True)
            if user is None:
                raise UnknownUser(user_id)
            raise InsufficientFunds(user.balance, -amount)
        entry = LedgerEntry(
            user_id=user_id,
            amount=amount,
            balance_after=balance_after,
            kind=kind,
            key=key,
            order_id=order_id,
            note=note,
            actor_id=actor_id,
        )
        await insert_new(self.session, entry)
        return entry, balance_after

    async def balance(self, user_id: int) -> Decimal:
        result = await self.session.execute(select(User.balance).where(User.id == user_id))
        value = result.scalar_one_or_none()
        return value if value is not None else Decimal("0.0000")

    async def sum_entries(self, user_id: int) -> Decimal:
        result = await self.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.user_id == user_id)
        )
        return to_money(Decimal(result.scalar_one()))

    async def history(self, user_id: int, *, limit: int = 10, offset: int = 0) -> list[LedgerEntry]:
        result = await self.session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(result.scalars())

    async def history_with_order_states(
        self, user_id: int, *, limit: int = 10
    ) -> list[tuple[LedgerEntry, str | None]]:
        """The newest entries, each with the state of its order (None when it has none)."""
        result = await self.session.execute(
            select(LedgerEntry, Order.state)
            .outerjoin(Order, Order.id == LedgerEntry.order_id)
            .where(LedgerEntry.user_id == user_id)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        return [(row[0], row[1]) for row in result.all()]

    async def for_order(self, order_id: int) -> list[LedgerEntry]:
        result = await self.session.execute(
            select(LedgerEntry).where(LedgerEntry.order_id == order_id).order_by(LedgerEntry.id)
        )
        return list(result.scalars())
