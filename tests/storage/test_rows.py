"""A new row written with one prepared INSERT reads like a loaded one and keeps its unique keys."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Order, OrderState
from storage.repositories.orders import OrderRepository
from storage.repositories.users import UserRepository

USER = 77


def new_order(draft_key: str) -> Order:
    return Order(
        user_id=USER,
        draft_key=draft_key,
        service_id="1",
        service_name="Followers",
        service_type="default",
        link="https://instagram.com/x",
        quantity=100,
        price=Decimal("1.08"),
        cost=Decimal("0.72"),
        state=OrderState.PLACING,
    )


async def test_inserted_order_has_its_id_and_defaults_and_updates_later(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory.begin() as session:
        await UserRepository(session).touch(USER, username="x", first_name="X", language_code="en")
        order = await OrderRepository(session).add_new(new_order("77:a"))
    assert order.id > 0
    assert order.refunded == Decimal("0") and order.params == {} and order.currency == "USD"
    assert order.created_at is not None and order.can_cancel is False
    async with session_factory.begin() as session:  # a detached row, not a new one: an UPDATE
        session.add(order)
        await OrderRepository(session).update_fields(order, state=OrderState.ACTIVE)
    async with session_factory() as session:
        stored = await OrderRepository(session).by_draft_key("77:a")
        assert stored is not None and stored.id == order.id and stored.state == OrderState.ACTIVE
        assert stored.price == Decimal("1.08")


async def test_a_taken_unique_key_fails_the_insert(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory.begin() as session:
        await UserRepository(session).touch(USER, username="x", first_name="X", language_code="en")
        await OrderRepository(session).add_new(new_order("77:b"))
    with pytest.raises(IntegrityError):
        async with session_factory.begin() as session:
            await OrderRepository(session).add_new(new_order("77:b"))
    async with session_factory() as session:
        assert (await OrderRepository(session).count_for_user(USER)) == 1
