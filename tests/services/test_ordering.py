"""Placing orders: charge and record together, call the panel once, refund refusals, keep unknowns."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import PanelClient
from bot.services.catalog import CatalogService, ServiceView
from bot.services.ordering import InsufficientBalance, OrderService, Outcome
from sandbox.panel_simulator import SimulatorHandle
from storage.models import LedgerKind, OrderState
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository

USER = 42


async def fund(factory: async_sessionmaker[AsyncSession], amount: str) -> None:
    async with factory.begin() as session:
        await UserRepository(session).touch(USER, username="bob", first_name="Bob", language_code="en")
        await LedgerRepository(session).apply(
            user_id=USER, amount=Decimal(amount), kind=LedgerKind.DEPOSIT, key=f"seed-{amount}"
        )


async def wallet(factory: async_sessionmaker[AsyncSession]) -> tuple[Decimal, Decimal]:
    async with factory() as session:
        repo = LedgerRepository(session)
        return await repo.balance(USER), await repo.sum_entries(USER)


@pytest.fixture
async def catalog(session_factory: async_sessionmaker[AsyncSession], panel: PanelClient) -> CatalogService:
    service = CatalogService(session_factory, panel, default_markup=Decimal("50"))
    await service.refresh()
    return service


@pytest.fixture
def orders(session_factory: async_sessionmaker[AsyncSession], panel: PanelClient) -> OrderService:
    return OrderService(session_factory, panel)


async def followers(catalog: CatalogService) -> ServiceView:
    view = await catalog.service("1")  # Instagram Followers, rate 0.72 per 1000, min 50
    assert view is not None
    return view


async def test_placed_order_is_charged_once_and_sent_once(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    await fund(session_factory, "10")
    view = await followers(catalog)
    values = {"link": "https://instagram.com/someone", "quantity": 1000}
    first = await orders.place(user_id=USER, draft_key="42:abc", view=view, values=values)
    again = await orders.place(user_id=USER, draft_key="42:abc", view=view, values=values)

    assert first.outcome == Outcome.PLACED
    assert first.order.state == OrderState.ACTIVE and first.order.upstream_id
    assert first.order.price == Decimal("1.08")  # 0.72 × 1 × 1.5
    assert again.outcome == Outcome.ALREADY and again.order.id == first.order.id
    assert sim.state.count("add") == 1
    assert await wallet(session_factory) == (Decimal("8.9200"), Decimal("8.9200"))


async def test_concurrent_confirms_of_one_form_place_one_order(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    await fund(session_factory, "10")
    view = await followers(catalog)
    values = {"link": "https://instagram.com/x", "quantity": 500}
    results = await asyncio.gather(
        *(orders.place(user_id=USER, draft_key="42:tap", view=view, values=values) for _ in range(5))
    )
    assert sorted(r.outcome for r in results).count(Outcome.PLACED) == 1
    assert {r.order.id for r in results} == {results[0].order.id}
    assert sim.state.count("add") == 1
    assert (await wallet(session_factory))[0] == Decimal("10") - results[0].order.price


async def test_not_enough_balance_is_refused_before_the_panel(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    await fund(session_factory, "1")
    view = await followers(catalog)
    with pytest.raises(InsufficientBalance) as caught:
        await orders.place(
            user_id=USER,
            draft_key="42:poor",
            view=view,
            values={"link": "https://instagram.com/x", "quantity": 5000},
        )
    assert caught.value.shortfall == Decimal("5.40") - Decimal("1")
    assert sim.state.count("add") == 0
    assert await wallet(session_factory) == (Decimal("1.0000"), Decimal("1.0000"))


async def test_clean_refusal_refunds_at_once_with_the_reason(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    await fund(session_factory, "10")
    view = await followers(catalog)
    values = {"link": "https://instagram.com/same", "quantity": 100}
    await orders.place(user_id=USER, draft_key="42:one", view=view, values=values)
    dup = await orders.place(
        user_id=USER, draft_key="42:two", view=view, values=values
    )  # same link, still active

    assert dup.outcome == Outcome.REFUSED
    assert dup.order.state == OrderState.REFUSED
    assert dup.error is not None and "active order" in dup.error.message.lower()
    assert dup.order.refunded == dup.order.price > 0
    balance, total = await wallet(session_factory)
    assert balance == total == Decimal("10") - dup.order.price  # only the first order is paid


@pytest.mark.parametrize("fault", ["hang", "http500", "invalid_json"])
async def test_unknown_outcome_is_kept_for_checking_not_refunded_not_retried(
    fault: str,
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    await fund(session_factory, "10")
    view = await followers(catalog)
    sim.state.inject_fault("add", fault, seconds=3)
    result = await orders.place(
        user_id=USER,
        draft_key="42:lost",
        view=view,
        values={"link": "https://instagram.com/y", "quantity": 100},
    )
    assert result.outcome == Outcome.UNKNOWN
    assert result.order.state == OrderState.UNKNOWN
    assert sim.state.count("add") == 1
    assert (await wallet(session_factory))[0] == Decimal("10") - result.order.price


async def test_interrupted_placing_becomes_unknown_after_restart(
    session_factory: async_sessionmaker[AsyncSession], catalog: CatalogService, orders: OrderService
) -> None:
    """A crash between the charge and the panel's answer: never retried, never silently refunded."""
    from datetime import timedelta

    from storage.models import Order, utcnow

    await fund(session_factory, "10")
    async with session_factory.begin() as session:
        session.add(
            Order(
                user_id=USER,
                draft_key="42:crash",
                service_id="1",
                service_name="x",
                service_type="default",
                price=Decimal("1"),
                cost=Decimal("0.5"),
                state=OrderState.PLACING,
                created_at=utcnow() - timedelta(minutes=10),
            )
        )
    assert await orders.recover_interrupted() == 1
    found = await orders.find_by_draft(USER, "42:crash")
    assert found is not None and found.state == OrderState.UNKNOWN


async def test_order_settled_elsewhere_while_placing_still_records_the_panels_id(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: CatalogService,
    orders: OrderService,
    sim: SimulatorHandle,
) -> None:
    """Another instance's start-up marks it UNKNOWN mid-call; the panel's answer still wins."""
    from sqlalchemy import update

    from storage.models import Order

    await fund(session_factory, "10")
    view = await followers(catalog)
    sim.state.inject_fault("add", "hang_after_commit", seconds=0.6)  # placed, answered late
    placing = asyncio.create_task(
        orders.place(
            user_id=USER,
            draft_key="42:slow",
            view=view,
            values={"link": "https://instagram.com/slow", "quantity": 100},
        )
    )
    await asyncio.sleep(0.3)  # the order is written, the panel has not answered yet
    assert (await orders.find_by_draft(USER, "42:slow")) is not None
    async with session_factory.begin() as session:
        await session.execute(
            update(Order).where(Order.draft_key == "42:slow").values(state=OrderState.UNKNOWN)
        )
    result = await placing

    assert result.outcome == Outcome.PLACED
    stored = await orders.find_by_draft(USER, "42:slow")
    assert stored is not None
    assert stored.state == OrderState.ACTIVE and stored.upstream_id == result.order.upstream_id
    assert stored.upstream_id
    assert sim.state.count("add") == 1
    assert (await wallet(session_factory))[0] == Decimal("10") - stored.price
