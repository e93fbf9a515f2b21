"""Shared steps of the tracking tests: users with money, orders placed for real or inserted in bulk."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import PanelClient
from bot.services.catalog import CatalogService, ServiceView
from bot.services.ordering import OrderService, Outcome
from sandbox.panel_simulator import PanelState
from storage.models import LedgerEntry, LedgerKind, Notification, Order, OrderState, utcnow
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository
from tests.tracking.conftest import API_KEY, PLAIN

Factory = async_sessionmaker[AsyncSession]


def later(minutes: float = 1) -> datetime:
    """A poll time past FIRST_POLL_DELAY of orders placed just now."""
    return utcnow() + timedelta(minutes=minutes)


async def make_user(
    factory: Factory, user_id: int = 1001, funds: str = "100", *, language_code: str | None = "en"
) -> None:
    async with factory.begin() as session:
        await UserRepository(session).touch(
            user_id, username=f"u{user_id}", first_name="Ann", language_code=language_code
        )
        if Decimal(funds):
            await LedgerRepository(session).apply(
                user_id=user_id, amount=Decimal(funds), kind=LedgerKind.DEPOSIT, key=f"seed:{user_id}"
            )


async def service_view(factory: Factory, panel: PanelClient, service_id: str) -> ServiceView:
    catalog = CatalogService(factory, panel, default_markup=Decimal("0"))
    await catalog.refresh()
    view = await catalog.service(service_id)
    assert view is not None
    return view


async def place(
    orders: OrderService,
    view: ServiceView,
    *,
    user_id: int = 1001,
    quantity: int = 700,
    link: str = "https://example.com/p/1",
    draft: str | None = None,
) -> Order:
    placement = await orders.place(
        user_id=user_id,
        draft_key=draft or f"draft-{link}-{quantity}",
        view=view,
        values={"link": link, "quantity": quantity},
    )
    assert placement.outcome == Outcome.PLACED, placement
    assert placement.order.upstream_id is not None
    return placement.order


async def insert_active(
    factory: Factory,
    state: PanelState,
    count: int,
    *,
    user_id: int = 1001,
    placed_at: datetime | None = None,
    quantity: int = 100,
    price: str = "0.10",
    prefix: str = "bulk",
) -> list[int]:
    """Create `count` orders upstream (straight through the simulator's dispatcher, no HTTP) and the
    matching ACTIVE rows here, due for polling now."""
    placed_at = placed_at or utcnow() - timedelta(minutes=1)
    rows = []
    for index in range(count):
        status, reply = state.dispatch(
            {
                "key": API_KEY,
                "action": "add",
                "service": PLAIN,
                "link": f"https://example.com/{prefix}/{index}",
                "quantity": str(quantity),
            }
        )
        assert status == 200 and "order" in reply, reply
        rows.append(
            Order(
                user_id=user_id,
                draft_key=f"{prefix}-{index}",
                service_id=PLAIN,
                service_name="Followers",
                service_type="default",
                link=f"https://example.com/{prefix}/{index}",
                quantity=quantity,
                params={},
                price=Decimal(price),
                cost=Decimal(price),
                state=OrderState.ACTIVE,
                upstream_id=str(reply["order"]),
                upstream_status="Pending",
                start_count=0,  # as the simulator reports a fresh order: already seen once
                remains=quantity,
                created_at=placed_at,
                updated_at=placed_at,
                placed_at=placed_at,
                status_changed_at=placed_at,
                next_poll_at=None,
            )
        )
    async with factory.begin() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def get_order(factory: Factory, order_id: int) -> Order:
    async with factory() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order


async def outbox(factory: Factory) -> list[Notification]:
    async with factory() as session:
        return list((await session.execute(select(Notification).order_by(Notification.id))).scalars())


async def money_of(factory: Factory, user_id: int = 1001) -> tuple[Decimal, Decimal, list[LedgerEntry]]:
    """(cached balance, sum of the ledger, refund entries) — the first two must always agree."""
    async with factory() as session:
        ledger = LedgerRepository(session)
        refunds = [
            entry
            for entry in await ledger.history(user_id, limit=1000)
            if entry.kind == LedgerKind.ORDER_REFUND
        ]
        return await ledger.balance(user_id), await ledger.sum_entries(user_id), refunds
