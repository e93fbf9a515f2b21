"""StatusPoller against the simulator: batching, writes only on change, refunds, outages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from aiogram import Bot
from sqlalchemy import select

from bot.panel import PanelClient
from bot.services.notifier import Notifier
from bot.services.ordering import ActionOutcome, OrderService
from bot.services.tracking import PollSchedule, StatusPoller, partial_refund
from sandbox.panel_simulator import PanelState
from sandbox.telegram_server import FakeTelegramServer
from storage.models import NotificationKind, Order, OrderState, utcnow
from tests.tracking.conftest import PLAIN, REFILLABLE
from tests.tracking.helpers import (
    Factory,
    get_order,
    insert_active,
    later,
    make_user,
    money_of,
    outbox,
    place,
    service_view,
)


async def updated_stamps(factory: Factory) -> dict[int, object]:
    async with factory() as session:
        rows = await session.execute(select(Order.id, Order.updated_at))
        return {row[0]: row[1] for row in rows}


def test_partial_refund_rounds_down_and_never_exceeds_the_price() -> None:
    assert partial_refund(Decimal("2.34"), 700, 123) == Decimal("0.41")  # 0.41117… down
    assert partial_refund(Decimal("1.00"), 3, 1) == Decimal("0.33")
    assert partial_refund(Decimal("2.34"), 700, 5000) == Decimal("2.34")  # remains capped to quantity
    assert partial_refund(Decimal("2.34"), 700, -20) == Decimal("0")  # over-delivered
    assert partial_refund(Decimal("2.34"), None, 10) == Decimal("0")  # nothing to compute from
    assert partial_refund(Decimal("2.34"), 700, None) == Decimal("0")  # "Unknown" remains
    assert partial_refund(Decimal("0"), 700, 100) == Decimal("0")  # wallet disabled


async def test_250_orders_three_status_calls_and_writes_only_changes(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    ids = await insert_active(session_factory, state, 250)
    poller = StatusPoller(session_factory, panel)

    before = state.count("status")
    report = await poller.poll_once(now=later())
    assert state.count("status") - before == 3
    assert (report.asked, report.upstream_calls, report.changed, report.errors) == (250, 3, 0, 0)
    assert all(
        len(params["orders"].split(",")) <= 100 for action, params in state.requests if action == "status"
    )

    # Five orders move; only those five rows are written, each with exactly one "started" message.
    stamps = await updated_stamps(session_factory)
    moved = [await get_order(session_factory, order_id) for order_id in ids[:5]]
    for order in moved:
        state.advance(order.upstream_id, status="In progress", start_count=1234, remains=100)
    before = state.count("status")
    report = await poller.poll_once(now=later(2))
    assert state.count("status") - before == 3
    assert (report.asked, report.changed, report.notices, report.rescheduled) == (250, 5, 5, 245)
    after = await updated_stamps(session_factory)
    assert {order_id for order_id in ids if after[order_id] != stamps[order_id]} == set(ids[:5])

    # The same statuses again: nothing written, no new outbox rows.
    report = await poller.poll_once(now=later(3))
    assert (report.changed, report.notices) == (0, 0)
    rows = await outbox(session_factory)
    assert sorted(row.order_id or 0 for row in rows) == sorted(ids[:5])
    assert {row.kind for row in rows} == {NotificationKind.ORDER_STARTED}
    moved_now = await get_order(session_factory, ids[0])
    assert (moved_now.upstream_status, moved_now.start_count, moved_now.state) == (
        "In progress",
        1234,
        "active",
    )


async def test_old_orders_are_asked_less_often(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    await insert_active(session_factory, state, 30, placed_at=utcnow() - timedelta(hours=6), prefix="old")
    await insert_active(session_factory, state, 20, prefix="young")
    poller = StatusPoller(session_factory, panel, schedule=PollSchedule(max_delay=timedelta(minutes=30)))
    first = await poller.poll_once(now=later())
    assert first.asked == 50
    # A minute later only the young ones are due again: one request for 20 ids.
    before = state.count("status")
    second = await poller.poll_once(now=later(2))
    assert (second.asked, state.count("status") - before) == (20, 1)
    # Half an hour later everyone is due again.
    third = await poller.poll_once(now=later(35))
    assert third.asked == 50


async def test_lifecycle_pending_processing_in_progress_completed(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    orders = OrderService(session_factory, panel)
    order = await place(orders, await service_view(session_factory, panel, PLAIN))
    poller = StatusPoller(session_factory, panel)

    first = await poller.poll_once(now=later())  # still Pending: records remains/start count only
    assert (first.changed, first.notices) == (1, 0)
    assert (await poller.poll_once(now=later(1.5))).changed == 0
    state.tick()  # Processing
    assert (await poller.poll_once(now=later(2))).notices == 1
    state.tick()  # In progress, start count set
    report = await poller.poll_once(now=later(3))
    assert (report.changed, report.notices) == (1, 0)  # no second "started"
    state.complete(order.upstream_id)
    report = await poller.poll_once(now=later(4))
    assert (report.finalised, report.notices, report.refunds) == (1, 1, 0)

    stored = await get_order(session_factory, order.id)
    assert stored.state == OrderState.COMPLETED
    assert stored.finished_at is not None and stored.next_poll_at is None
    assert stored.remains == 0
    assert [row.kind for row in await outbox(session_factory)] == ["order_started", "order_completed"]
    assert (await poller.poll_once(now=later(5))).asked == 0  # final orders are not asked again


async def test_partial_refund_is_exact_and_single_even_with_two_pollers(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    order = await place(orders, await service_view(session_factory, panel, REFILLABLE), quantity=700)
    assert order.price == Decimal("2.34")  # 3.3333 × 0.7 rounded up
    state.make_partial(order.upstream_id, 123)

    now = later()
    reports = await asyncio.gather(
        StatusPoller(session_factory, panel).poll_once(now=now),
        StatusPoller(session_factory, panel).poll_once(now=now),
    )
    assert sum(report.finalised for report in reports) == 1
    stored = await get_order(session_factory, order.id)
    assert stored.state == OrderState.PARTIAL
    assert stored.refunded == Decimal("0.41")
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10") - Decimal("2.34") + Decimal("0.41")
    assert [entry.amount for entry in refunds] == [Decimal("0.41")]
    rows = await outbox(session_factory)
    assert [row.kind for row in rows] == ["order_partial"]
    assert rows[0].payload["refund"] == "0.4100"


async def test_cancel_changes_nothing_until_the_panel_reports_canceled(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    order = await place(orders, await service_view(session_factory, panel, REFILLABLE), quantity=700)
    result = await orders.request_cancel(1001, order.id)
    assert result.outcome == ActionOutcome.ACCEPTED
    poller = StatusPoller(session_factory, panel)

    report = await poller.poll_once(now=later())
    assert report.finalised == 0
    assert (await get_order(session_factory, order.id)).state == OrderState.ACTIVE
    assert (await money_of(session_factory))[2] == []

    state.tick()  # the panel carries the cancel out
    report = await poller.poll_once(now=later(2))
    assert (report.finalised, report.refunds) == (1, 1)
    await poller.poll_once(now=later(3))
    stored = await get_order(session_factory, order.id)
    assert (stored.state, stored.refunded) == (OrderState.CANCELED, Decimal("2.34"))
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10.0000")
    assert len(refunds) == 1
    assert [row.kind for row in await outbox(session_factory)] == ["order_canceled"]


async def test_wallet_disabled_refunds_nothing(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory, funds="0")
    orders = OrderService(session_factory, panel, wallet_enabled=False)
    order = await place(orders, await service_view(session_factory, panel, REFILLABLE))
    assert order.price == Decimal("0")
    state.cancel_now(order.upstream_id)
    report = await StatusPoller(session_factory, panel).poll_once(now=later())
    assert (report.finalised, report.refunds) == (1, 0)
    balance, total, refunds = await money_of(session_factory)
    assert (balance, total, refunds) == (Decimal("0"), Decimal("0"), [])
    assert (await get_order(session_factory, order.id)).state == OrderState.CANCELED


async def test_unknown_statuses_run_and_subscription_statuses_are_kept(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    first, second = await insert_active(session_factory, state, 2)
    one = await get_order(session_factory, first)
    two = await get_order(session_factory, second)
    state.advance(one.upstream_id, status="Refilling")
    state.advance(two.upstream_id, status="Active")
    poller = StatusPoller(session_factory, panel)
    await poller.poll_once(now=later())
    one = await get_order(session_factory, first)
    two = await get_order(session_factory, second)
    assert (one.state, one.upstream_status) == (OrderState.ACTIVE, "Refilling")
    assert (two.state, two.upstream_status) == (OrderState.ACTIVE, "Active")
    state.advance(two.upstream_id, status="Paused")
    await poller.poll_once(now=later(2))
    assert (await get_order(session_factory, second)).upstream_status == "Paused"
    state.advance(two.upstream_id, status="Expired")
    await poller.poll_once(now=later(3))
    two = await get_order(session_factory, second)
    assert (two.state, two.upstream_status) == (OrderState.COMPLETED, "Expired")
    kinds = sorted((row.order_id, row.kind) for row in await outbox(session_factory))
    assert kinds == [(first, "order_started"), (second, "order_completed"), (second, "order_started")]


async def test_per_id_errors_push_the_order_back(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    ids = await insert_active(session_factory, state, 3)
    ghost = await get_order(session_factory, ids[0])
    assert ghost.upstream_id is not None
    del state.orders[ghost.upstream_id]  # the panel lost it
    poller = StatusPoller(session_factory, panel, schedule=PollSchedule(error_delay=timedelta(minutes=15)))
    now = later()
    report = await poller.poll_once(now=now)
    assert (report.asked, report.errors, report.unavailable) == (3, 1, None)
    stored = await get_order(session_factory, ghost.id)
    assert stored.state == OrderState.ACTIVE
    assert stored.next_poll_at == now + timedelta(minutes=15)
    assert (await poller.poll_once(now=later(2))).asked == 2


async def test_outage_for_several_cycles_loses_nothing(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    view = await service_view(session_factory, panel, REFILLABLE)
    done = await place(orders, view, link="https://example.com/a")
    partial = await place(orders, view, link="https://example.com/b", quantity=1000)
    started = await place(orders, view, link="https://example.com/c")
    poller = StatusPoller(session_factory, panel)

    state.set_fault("status", "http500")
    state.complete(done.upstream_id)
    state.make_partial(partial.upstream_id, 250)
    state.advance(started.upstream_id, status="In progress", start_count=10)
    for minute in (1, 2, 3):
        report = await poller.poll_once(now=later(minute))
        assert report.unavailable is not None and report.changed == 0 and report.asked == 0
    assert await outbox(session_factory) == []

    state.clear_faults()
    report = await poller.poll_once(now=later(4))
    assert (report.asked, report.changed, report.finalised, report.unavailable) == (3, 3, 2, None)
    kinds = {row.order_id: row.kind for row in await outbox(session_factory)}
    assert kinds == {done.id: "order_completed", partial.id: "order_partial", started.id: "order_started"}
    assert (await get_order(session_factory, partial.id)).refunded == Decimal("0.83")  # 3.34 × 0.25 down
    balance, total, _ = await money_of(session_factory)
    assert balance == total

    assert (await Notifier(session_factory, bot).send_pending()).sent == 3
    texts = sorted(message.content_text or "" for message in user.messages)
    assert any(f"Order #{done.id} is completed" in text for text in texts)
    assert any(f"Order #{started.id} has started" in text and "Start count: 10" in text for text in texts)
    assert any(
        f"Order #{partial.id} was only partly delivered" in text
        and "Remains: 250" in text
        and "0.83 USD was returned" in text
        for text in texts
    )
    tg.assert_no_violations()


async def test_a_hanging_panel_ends_the_cycle_in_time(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    ids = await insert_active(session_factory, state, 2)
    state.inject_fault("status", "hang", times=2, seconds=1.0)
    poller = StatusPoller(session_factory, panel, upstream_timeout=0.2)
    report = await poller.poll_once(now=later())
    assert report.unavailable is not None and report.asked == 0
    moved = await get_order(session_factory, ids[0])
    state.complete(moved.upstream_id)
    state.clear_faults()
    report = await poller.poll_once(now=later(2))
    assert (report.asked, report.finalised, report.unavailable) == (2, 1, None)
