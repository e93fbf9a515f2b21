"""Settling orders whose placement outcome is unknown, and finding stuck ones."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from aiogram import Bot

from bot.panel import PanelClient
from bot.services.notifier import Notifier
from bot.services.ordering import OrderService, Outcome
from bot.services.reconcile import ReconcileOutcome, ReconcileService
from bot.services.tracking import StatusPoller
from sandbox.panel_simulator import PanelState
from sandbox.telegram_server import FakeTelegramServer
from storage.models import Order, OrderState, utcnow
from tests.tracking.conftest import REFILLABLE
from tests.tracking.helpers import (
    Factory,
    get_order,
    insert_active,
    later,
    make_user,
    money_of,
    outbox,
    service_view,
)


async def unknown_order(
    factory: Factory, state: PanelState, panel: PanelClient, fault: str, link: str
) -> tuple[Order, str | None]:
    """Place an order whose `add` reply is lost; returns it and the upstream id if one was created."""
    orders = OrderService(factory, panel)
    view = await service_view(factory, panel, REFILLABLE)
    known = set(state.orders)
    state.inject_fault("add", fault)
    placement = await orders.place(
        user_id=1001, draft_key=f"d-{link}", view=view, values={"link": link, "quantity": 700}
    )
    assert placement.outcome == Outcome.UNKNOWN
    created = set(state.orders) - known
    return placement.order, (created.pop() if created else None)


async def test_attach_upstream_id_verifies_and_tracking_continues(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory, funds="10")
    order, upstream_id = await unknown_order(
        session_factory, state, panel, "http500_after_commit", "https://example.com/u1"
    )
    assert upstream_id is not None
    reconcile = ReconcileService(session_factory, panel)
    assert [o.id for o in await reconcile.list_unknown()] == [order.id]

    missing = await reconcile.attach_upstream_id(order.id, "999999", actor_id=7)
    assert missing.outcome == ReconcileOutcome.UPSTREAM_NOT_FOUND
    assert (await get_order(session_factory, order.id)).state == OrderState.UNKNOWN

    state.advance(upstream_id, status="In progress", start_count=5)
    result = await reconcile.attach_upstream_id(order.id, upstream_id, actor_id=7)
    assert result.outcome == ReconcileOutcome.DONE
    stored = await get_order(session_factory, order.id)
    assert (stored.state, stored.upstream_id, stored.upstream_status) == (
        OrderState.ACTIVE,
        upstream_id,
        "In progress",
    )
    assert await reconcile.list_unknown() == []
    assert (
        await reconcile.attach_upstream_id(order.id, upstream_id, 7)
    ).outcome == ReconcileOutcome.WRONG_STATE

    # Tracking goes on: the panel completes it, the next poll finalises it.
    state.complete(upstream_id)
    report = await StatusPoller(session_factory, panel).poll_once(now=later())
    assert report.finalised == 1
    assert (await get_order(session_factory, order.id)).state == OrderState.COMPLETED
    assert [row.kind for row in await outbox(session_factory)] == ["order_started", "order_completed"]

    # The same upstream id cannot be attached to a second order.
    second, _ = await unknown_order(session_factory, state, panel, "http500", "https://example.com/u2")
    duplicate = await reconcile.attach_upstream_id(second.id, upstream_id, actor_id=7)
    assert duplicate.outcome == ReconcileOutcome.DUPLICATE


async def test_mark_not_placed_refunds_once(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory, funds="10")
    order, upstream_id = await unknown_order(
        session_factory, state, panel, "http500", "https://example.com/u3"
    )
    assert upstream_id is None
    balance, _, _ = await money_of(session_factory)
    assert balance == Decimal("10") - order.price

    reconcile = ReconcileService(session_factory, panel)
    result = await reconcile.mark_not_placed(order.id, actor_id=7)
    assert result.outcome == ReconcileOutcome.DONE
    again = await reconcile.mark_not_placed(order.id, actor_id=7)
    assert again.outcome == ReconcileOutcome.WRONG_STATE
    stored = await get_order(session_factory, order.id)
    assert (stored.state, stored.refunded) == (OrderState.REFUSED, order.price)
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10")
    assert len(refunds) == 1 and refunds[0].actor_id == 7

    assert (await Notifier(session_factory, bot).send_pending()).sent == 1
    assert f"#{order.id}" in (user.messages[-1].content_text or "")


async def test_stuck_orders_and_admin_alerts_once(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    admin = tg.add_user(42, "Admin")
    await make_user(session_factory, funds="10")
    old = await insert_active(session_factory, state, 2, placed_at=utcnow() - timedelta(hours=50), prefix="s")
    await insert_active(session_factory, state, 1, prefix="fresh")
    unknown, _ = await unknown_order(session_factory, state, panel, "http500", "https://example.com/u4")
    reconcile = ReconcileService(session_factory, panel, stuck_after=timedelta(hours=48))

    assert sorted(order.id for order in await reconcile.stuck_orders()) == sorted(old)
    assert await reconcile.stuck_orders(timedelta(hours=60)) == []

    assert await reconcile.queue_admin_alerts([42]) == 3
    assert await reconcile.queue_admin_alerts([42]) == 0
    assert (await Notifier(session_factory, bot).send_pending()).sent == 3
    texts = " ".join(message.content_text or "" for message in admin.messages)
    assert f"#{unknown.id}" in texts and all(f"#{order_id}" in texts for order_id in old)
