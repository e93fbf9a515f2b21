"""The money ledger: exact, conditional, exactly once — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import LedgerKind
from storage.repositories.ledger import InsufficientFunds, LedgerRepository
from storage.repositories.users import UserRepository


async def make_user(factory: async_sessionmaker[AsyncSession], user_id: int = 1, funds: str = "0") -> None:
    async with factory.begin() as session:
        await UserRepository(session).touch(user_id, username="alice", first_name="Alice", language_code="en")
        if Decimal(funds):
            await LedgerRepository(session).apply(
                user_id=user_id, amount=Decimal(funds), kind=LedgerKind.DEPOSIT, key=f"seed:{user_id}"
            )


async def balances(factory: async_sessionmaker[AsyncSession], user_id: int = 1) -> tuple[Decimal, Decimal]:
    async with factory() as session:
        repo = LedgerRepository(session)
        return await repo.balance(user_id), await repo.sum_entries(user_id)


async def test_amounts_are_exact_decimals(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory)
    async with session_factory.begin() as session:
        repo = LedgerRepository(session)
        for i in range(10):
            await repo.apply(user_id=1, amount=Decimal("0.1"), kind=LedgerKind.DEPOSIT, key=f"d{i}")
        await repo.apply(user_id=1, amount=Decimal("-0.3333"), kind=LedgerKind.ORDER_CHARGE, key="c1")
    balance, total = await balances(session_factory)
    assert balance == Decimal("0.6667")
    assert isinstance(balance, Decimal)
    assert balance == total


async def test_debit_never_goes_below_zero(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory, funds="5.00")
    with pytest.raises(InsufficientFunds) as caught:
        async with session_factory.begin() as session:
            await LedgerRepository(session).apply(
                user_id=1, amount=Decimal("-5.01"), kind=LedgerKind.ORDER_CHARGE, key="too-much"
            )
    assert caught.value.shortfall == Decimal("0.01")
    assert await balances(session_factory) == (Decimal("5.0000"), Decimal("5.0000"))


async def test_same_key_applies_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory, funds="10")
    results = []
    for _ in range(2):
        async with session_factory.begin() as session:
            repo = LedgerRepository(session)
            results.append(
                await repo.apply(
                    user_id=1, amount=Decimal("-3"), kind=LedgerKind.ORDER_CHARGE, key="order:7:charge"
                )
            )
            results.append(
                await repo.apply(
                    user_id=1, amount=Decimal("3"), kind=LedgerKind.ORDER_REFUND, key="order:7:refund"
                )
            )
    assert [r.applied for r in results] == [True, True, False, False]
    assert await balances(session_factory) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_concurrent_debits_never_overdraw(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Thirty tasks try to spend 1.00 each from 10.00: exactly ten succeed."""
    await make_user(session_factory, funds="10")

    async def spend(i: int) -> bool:
        try:
            async with session_factory.begin() as session:
                await LedgerRepository(session).apply(
                    user_id=1, amount=Decimal("-1"), kind=LedgerKind.ORDER_CHARGE, key=f"spend:{i}"
                )
            return True
        except InsufficientFunds:
            return False

    outcomes = await asyncio.gather(*(spend(i) for i in range(30)))
    assert outcomes.count(True) == 10
    assert await balances(session_factory) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_concurrent_same_key_applies_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory, funds="10")

    async def refund() -> bool:
        async with session_factory.begin() as session:
            result = await LedgerRepository(session).apply(
                user_id=1, amount=Decimal("2.5"), kind=LedgerKind.ORDER_REFUND, key="order:9:refund"
            )
            return result.applied

    applied = await asyncio.gather(*(refund() for _ in range(8)))
    assert applied.count(True) == 1
    assert await balances(session_factory) == (Decimal("12.5000"), Decimal("12.5000"))


async def test_float_is_refused(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory)
    with pytest.raises(TypeError):
        async with session_factory.begin() as session:
            await LedgerRepository(session).apply(
                user_id=1,
                amount=0.1,  # type: ignore[arg-type]
                kind=LedgerKind.DEPOSIT,
                key="float",
            )
