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
from sandbox.telegram_server import FakeTelegramServer, FakeUser
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


async def refill_asked(
    factory: Factory, state: PanelState, panel: PanelClient, link: str
) -> tuple[OrderService, Order]:
    """A customer whose refillable order completed and who asked for its refill (accepted)."""
    await make_user(factory)
    orders = OrderService(factory, panel)
    done = await completed_order(factory, state, panel, orders, link)
    assert (await orders.request_refill(1001, done.id)).outcome == ActionOutcome.ACCEPTED
    return orders, done


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


def refill_texts(user: FakeUser) -> list[str]:
    return [
        message.content_text or "" for message in user.messages if "refill" in (message.content_text or "")
    ]


async def test_refill_without_id_follows_the_order_to_completed_and_tells_once(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    _, done = await refill_asked(session_factory, state, panel, "https://example.com/r3")
    assert (await refill_of(session_factory, done.id)).upstream_refill_id is None  # the seed's reply
    poller = StatusPoller(session_factory, panel)

    report = await poller.poll_refills()  # the next cycle already looks: the order shows Completed
    assert (report.asked, report.finished) == (1, 0)
    assert (await refill_of(session_factory, done.id)).state == RefillState.REQUESTED
    state.advance(done.upstream_id, status="In progress")  # the panel runs the refill
    await poller.poll_refills()
    assert (await refill_of(session_factory, done.id)).state == RefillState.RUNNING
    state.complete(done.upstream_id)
    report = await poller.poll_refills()
    assert (report.finished, report.notices) == (1, 1)
    assert (await refill_of(session_factory, done.id)).state == RefillState.COMPLETED
    assert (await poller.poll_refills()).asked == 0

    # Two senders (two instances) and a second run: the customer is told once.
    await Notifier(session_factory, bot).send_pending()
    await Notifier(session_factory, bot).send_pending()
    texts = refill_texts(user)
    assert len(texts) == 1 and f"refill of order #{done.id} is done" in texts[0]


async def test_refill_without_id_and_no_change_is_settled_unconfirmed_within_a_few_cycles(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    orders, done = await refill_asked(session_factory, state, panel, "https://example.com/r4")
    poller = StatusPoller(session_factory, panel, idless_refill_checks=3)

    for _ in range(2):
        assert (await poller.poll_refills()).finished == 0
        assert (await refill_of(session_factory, done.id)).state == RefillState.REQUESTED
    report = await poller.poll_refills()
    assert (report.finished, report.notices) == (1, 1)
    refill = await refill_of(session_factory, done.id)
    assert (refill.state, refill.finished_at is not None) == (RefillState.UNCONFIRMED, True)
    assert (await poller.poll_refills()).asked == 0

    await Notifier(session_factory, bot).send_pending()
    await Notifier(session_factory, bot).send_pending()
    texts = refill_texts(user)
    assert len(texts) == 1 and "does not report how it goes" in texts[0] and "support" in texts[0]
    # Settled: the customer may ask again; the panel itself refuses while its refill still runs.
    again = await orders.request_refill(1001, done.id)
    assert again.outcome == ActionOutcome.REFUSED and "already in progress" in (again.message or "")


@pytest.mark.parametrize("state", ["pp"], indirect=True)
async def test_refill_the_panel_keeps_answering_errors_about_is_rejected_with_its_words(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    _, done = await refill_asked(session_factory, state, panel, "https://example.com/r5")
    refill = await refill_of(session_factory, done.id)
    assert refill.upstream_refill_id
    del state.refills[refill.upstream_refill_id]  # the panel lost it: "Refill not found"
    poller = StatusPoller(session_factory, panel, refill_error_limit=3)

    for checks in (1, 2):
        report = await poller.poll_refills()
        assert (report.errors, report.finished) == (1, 0)
        refill = await refill_of(session_factory, done.id)
        assert (refill.state, refill.checks) == (RefillState.REQUESTED, checks)
    report = await poller.poll_refills()
    assert (report.finished, report.notices) == (1, 1)
    refill = await refill_of(session_factory, done.id)
    assert refill.state == RefillState.REJECTED and "Refill not found" in (refill.reason or "")

    await Notifier(session_factory, bot).send_pending()
    texts = refill_texts(user)
    assert len(texts) == 1 and "rejected the refill" in texts[0] and "Refill not found" in texts[0]


@pytest.mark.parametrize("state", ["pp"], indirect=True)
async def test_unknown_refill_statuses_stay_open_up_to_the_cap(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    _, done = await refill_asked(session_factory, state, panel, "https://example.com/r6")
    refill = await refill_of(session_factory, done.id)
    state.advance_refill(refill.upstream_refill_id, "Waiting for moderation")
    poller = StatusPoller(session_factory, panel, refill_max_open=timedelta(days=2))

    await poller.poll_refills()
    refill = await refill_of(session_factory, done.id)
    assert (refill.state, refill.status_raw) == (RefillState.RUNNING, "Waiting for moderation")
    await poller.poll_refills(now=utcnow() + timedelta(days=1))
    assert (await refill_of(session_factory, done.id)).state == RefillState.RUNNING
    report = await poller.poll_refills(now=utcnow() + timedelta(days=3))
    assert (report.finished, report.notices) == (1, 1)
    assert (await refill_of(session_factory, done.id)).state == RefillState.UNCONFIRMED


@pytest.mark.parametrize("state", ["pp"], indirect=True)
async def test_a_canceled_refill_is_rejected_with_the_status_as_its_reason(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    _, done = await refill_asked(session_factory, state, panel, "https://example.com/r7")
    refill = await refill_of(session_factory, done.id)
    state.advance_refill(refill.upstream_refill_id, "Canceled")
    report = await StatusPoller(session_factory, panel).poll_refills()
    assert (report.finished, report.notices) == (1, 1)
    refill = await refill_of(session_factory, done.id)
    assert (refill.state, refill.reason) == (RefillState.REJECTED, "Canceled")
