"""Refill tracking: by refill id in bulk (Perfect Panel shapes), by the order's status without one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram import Bot

from bot.panel import PanelClient
from bot.services.notifier import Notifier
from bot.services.ordering import ActionOutcome, OrderService
from bot.services.tracking import StatusPoller
from sandbox.panel_simulator import PanelState
from sandbox.telegram_server import FakeTelegramServer
from storage.models import Order, Refill, RefillState, utcnow
from storage.repositories.orders import RefillRepository
from tests.tracking.conftest import REFILLABLE
from tests.tracking.helpers import Factory, later, make_user, outbox, place, service_view


async def completed_order(
    factory: Factory, state: PanelState, panel: PanelClient, orders: OrderService, link: str
) -> Order:
    order = await place(orders, await service_view(factory, panel, REFILLABLE), link=link)
    state.complete(order.upstream_id)
    await StatusPoller(factory, panel).poll_once(now=later())
    return order


async def refill_of(factory: Factory, order_id: int) -> Refill:
    async with factory() as session:
        refill = await RefillRepository(session).latest_for_order(order_id)
        assert refill is not None
        return refill


@pytest.mark.parametrize("state", ["pp"], indirect=True)
async def test_refills_with_ids_are_polled_in_bulk(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    orders = OrderService(session_factory, panel)
    done = await completed_order(session_factory, state, panel, orders, "https://example.com/r1")
    other = await completed_order(session_factory, state, panel, orders, "https://example.com/r2")
    assert (await orders.request_refill(1001, done.id)).outcome == ActionOutcome.ACCEPTED
    assert (await orders.request_refill(1001, other.id)).outcome == ActionOutcome.ACCEPTED
    first, second = await refill_of(session_factory, done.id), await refill_of(session_factory, other.id)
    assert first.upstream_refill_id and second.upstream_refill_id
    poller = StatusPoller(session_factory, panel)

    before = state.count("refill_status")
    report = await poller.poll_refills()
    assert (report.asked, report.upstream_calls, state.count("refill_status") - before) == (2, 1, 1)
    assert "refills" in state.requests[-1][1]  # the multi form
    state.tick()  # In progress
    state.advance_refill(second.upstream_refill_id, "Rejected")
    report = await poller.poll_refills()
    assert (report.changed, report.finished, report.notices) == (2, 1, 1)
    assert (await refill_of(session_factory, done.id)).state == RefillState.RUNNING
    state.tick()  # Completed
    report = await poller.poll_refills()
    assert (report.finished, report.notices) == (1, 1)
    assert (await refill_of(session_factory, done.id)).state == RefillState.COMPLETED
    assert (await refill_of(session_factory, other.id)).state == RefillState.REJECTED

    assert (await poller.poll_refills()).asked == 0  # nothing open any more
    kinds = sorted((row.order_id, row.kind) for row in await outbox(session_factory) if "refill" in row.kind)
    assert kinds == sorted([(done.id, "refill_completed"), (other.id, "refill_rejected")])


async def test_refill_without_id_is_settled_from_the_order_status(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory)
    orders = OrderService(session_factory, panel)
    done = await completed_order(session_factory, state, panel, orders, "https://example.com/r3")
    assert (await orders.request_refill(1001, done.id)).outcome == ActionOutcome.ACCEPTED
    assert (await refill_of(session_factory, done.id)).upstream_refill_id is None  # the seed's reply
    poller = StatusPoller(session_factory, panel, idless_refill_after=timedelta(hours=12))

    report = await poller.poll_refills(now=utcnow() + timedelta(hours=1))
    assert (report.asked, report.upstream_calls) == (0, 0)  # too early to tell
    before = state.count("status")
    report = await poller.poll_refills(now=utcnow() + timedelta(hours=13))
    assert (report.asked, report.finished, state.count("status") - before) == (1, 1, 1)
    assert (await refill_of(session_factory, done.id)).state == RefillState.COMPLETED

    await Notifier(session_factory, bot).send_pending()
    texts = [message.content_text or "" for message in user.messages]
    assert any(f"refill of order #{done.id}" in text for text in texts)
