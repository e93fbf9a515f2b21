"""Notifier against the fake Telegram Bot API server: once per row, across crashes and senders."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from aiogram import Bot
from sqlalchemy import select

from bot.panel import PanelClient
from bot.services.notifier import Notifier
from bot.services.ordering import OrderService
from bot.services.tracking import StatusPoller
from sandbox.panel_simulator import PanelState
from sandbox.telegram_server import FakeTelegramServer
from storage.models import Order, User, utcnow
from storage.repositories.outbox import OutboxRepository
from tests.tracking.conftest import REFILLABLE
from tests.tracking.helpers import (
    Factory,
    insert_active,
    later,
    make_user,
    outbox,
    place,
    service_view,
)

_batches = itertools.count()


def sends(tg: FakeTelegramServer) -> int:
    return sum(1 for call in tg.calls if call.method == "sendMessage")


async def queue_notices(
    factory: Factory, state: PanelState, panel: PanelClient, count: int, user_id: int = 1001
) -> None:
    """`count` "started" rows in the outbox, written by a real poll."""
    ids = await insert_active(factory, state, count, user_id=user_id, prefix=f"n{next(_batches)}")
    async with factory() as session:
        upstream = (await session.execute(select(Order.upstream_id).where(Order.id.in_(ids)))).scalars()
        for upstream_id in upstream:
            state.advance(upstream_id, status="In progress", start_count=42)
    report = await StatusPoller(factory, panel).poll_once(now=later())
    assert report.notices == count


async def test_crash_before_sending_loses_nothing_and_sends_once(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    order = await place(
        orders,
        await service_view(session_factory, panel, REFILLABLE),
        link="https://example.com/p?a=1&b=<2>",
        quantity=700,
    )
    state.make_partial(order.upstream_id, 123)
    await StatusPoller(session_factory, panel).poll_once(now=later())
    # "Crash": the process dies here, before any notifier ran. A new one after the restart:
    first = await Notifier(session_factory, bot).send_pending()
    assert first.sent == 1
    again = await Notifier(session_factory, bot).send_pending()
    assert again.sent == 0
    assert len(user.messages) == 1
    text = user.messages[0].content_text or ""
    assert f"#{order.id}" in text
    assert "Followers <1> & more" in text  # escaped for HTML on the wire, shown as typed
    assert "https://example.com/p?a=1&b=<2>" in text
    assert "123" in text and "0.41 USD" in text
    assert "notify." not in text  # English fallback while the keys are not in the .po files
    rows = await outbox(session_factory)
    assert rows[0].sent_at is not None and rows[0].claimed_until is None
    tg.assert_no_violations()


async def test_two_concurrent_senders_never_send_a_row_twice(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory)
    await queue_notices(session_factory, state, panel, 12)
    reports = await asyncio.gather(
        Notifier(session_factory, bot).send_pending(),
        Notifier(session_factory, bot).send_pending(),
        Notifier(session_factory, bot).send_pending(),
    )
    assert sum(report.sent for report in reports) == 12
    assert sends(tg) == 12 and len(user.messages) == 12
    assert all(row.sent_at is not None for row in await outbox(session_factory))


async def test_blocked_user_is_flagged_and_then_skipped(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_user(1001, "Ann").block_bot()
    other = tg.add_user(1002, "Bob")
    await make_user(session_factory, 1001)
    await make_user(session_factory, 1002)
    await queue_notices(session_factory, state, panel, 3, user_id=1001)
    await queue_notices(session_factory, state, panel, 1, user_id=1002)

    report = await Notifier(session_factory, bot).send_pending()
    assert (report.blocked, report.sent) == (1, 1)
    assert sends(tg) == 2  # one 403 for Ann, then her other rows without calling Telegram
    assert len(other.messages) == 1
    async with session_factory() as session:
        assert (await session.get(User, 1001)).blocked_bot is True  # type: ignore[union-attr]
        assert await OutboxRepository(session).count_unsent() == 0

    # A later row for a user already known as blocked never reaches Telegram.
    await queue_notices(session_factory, state, panel, 1, user_id=1001)
    report = await Notifier(session_factory, bot).send_pending()
    assert (report.blocked, report.sent, sends(tg)) == (1, 0, 2)
    dropped = [row for row in await outbox(session_factory) if row.user_id == 1001]
    assert all(row.dropped_at is not None and row.sent_at is None for row in dropped)


async def test_flood_limit_postpones_the_row(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    user = tg.add_user(1001, "Ann")
    await make_user(session_factory)
    await queue_notices(session_factory, state, panel, 2)
    tg.inject_429(count=1, retry_after=30, methods=["sendMessage"])

    report = await Notifier(session_factory, bot).send_pending()
    assert (report.deferred, report.sent) == (1, 0)  # the run stops at the flood limit
    rows = await outbox(session_factory)
    assert rows[0].next_attempt_at is not None
    assert rows[0].next_attempt_at >= utcnow() + timedelta(seconds=25)
    assert rows[0].attempts == 0  # a flood limit is not the row's fault

    report = await Notifier(session_factory, bot).send_pending()
    assert report.sent == 1  # the second row; the first waits for its time
    late = Notifier(session_factory, bot, clock=lambda: utcnow() + timedelta(seconds=31))
    assert (await late.send_pending()).sent == 1
    assert len(user.messages) == 2


async def test_bad_request_is_retried_a_few_times_then_dropped(
    session_factory: Factory, state: PanelState, panel: PanelClient, tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_user(1001, "Ann", started=False)  # never pressed Start: "chat not found"
    await make_user(session_factory)
    await queue_notices(session_factory, state, panel, 1)
    clock = [utcnow()]
    notifier = Notifier(session_factory, bot, max_attempts=3, clock=lambda: clock[0])
    with tg.expect_errors("chat not found"):
        for expected_failed, expected_dropped in ((1, 0), (1, 0), (0, 1)):
            report = await notifier.send_pending()
            assert (report.failed, report.dropped) == (expected_failed, expected_dropped)
            clock[0] += timedelta(hours=2)
        assert (await notifier.send_pending()) == type(report)()  # nothing left to try
    row = (await outbox(session_factory))[0]
    assert row.dropped_at is not None and row.attempts == 3 and "chat not found" in (row.last_error or "")
