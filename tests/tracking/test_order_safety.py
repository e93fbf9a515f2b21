"""No order is lost between the charge and the panel's answer; unclear refunds wait for an admin.

Each test here failed on the code before issue #13: a PLACING order stayed so forever unless the
bot restarted, a late answer revived a refunded order, a failing step 3 left the order in limbo,
a Partial with remains "Unknown" was settled with a 0 refund, a cancelled subscription refunded in
full, and "Error" refunded an order the panel might still run.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from bot.panel import PanelClient
from bot.services.ordering import OrderService, Outcome, Placement
from bot.services.reconcile import ReconcileOutcome, ReconcileService, run_order_safety
from bot.services.tracking import UNUSABLE_REPORTS_LIMIT, StatusPoller
from sandbox.panel_simulator import PanelState, SimulatorHandle
from storage.models import LedgerEntry, Notification, Order, OrderProblem, OrderState, ProblemKind, utcnow
from tests.tracking.conftest import API_KEY, PLAIN, SUBSCRIPTION
from tests.tracking.helpers import Factory, get_order, later, make_user, money_of, place, service_view

ADMIN = 900


async def orphan(factory: Factory, *, age: timedelta, draft: str = "orphan") -> int:
    """An order a killed process left PLACING: recorded and charged, no outcome."""
    from storage.models import LedgerKind
    from storage.repositories.ledger import LedgerRepository

    async with factory.begin() as session:
        order = Order(
            user_id=1001,
            draft_key=draft,
            service_id=PLAIN,
            service_name="Followers",
            service_type="default",
            link="https://example.com/orphan",
            quantity=100,
            params={},
            price=Decimal("1.00"),
            cost=Decimal("0.50"),
            state=OrderState.PLACING,
            created_at=utcnow() - age,
        )
        session.add(order)
        await session.flush()
        await LedgerRepository(session).apply(
            user_id=1001,
            amount=Decimal("-1.00"),
            kind=LedgerKind.ORDER_CHARGE,
            key=f"order:{order.id}:charge",
        )
        return order.id


async def problems(factory: Factory) -> list[OrderProblem]:
    async with factory() as session:
        return list((await session.execute(select(OrderProblem).order_by(OrderProblem.id))).scalars())


async def admin_alerts(factory: Factory) -> list[Notification]:
    async with factory() as session:
        rows = await session.execute(select(Notification).where(Notification.user_id == ADMIN))
        return list(rows.scalars())


async def test_periodic_sweep_surfaces_an_orphan_once_and_never_sends_add(
    session_factory: Factory, panel: PanelClient, sim: SimulatorHandle
) -> None:
    await make_user(session_factory, funds="10")
    old = await orphan(session_factory, age=timedelta(minutes=3), draft="old")
    young = await orphan(session_factory, age=timedelta(seconds=5), draft="young")  # being placed now
    orders = OrderService(session_factory, panel, placing_grace=timedelta(minutes=2))
    reconcile = ReconcileService(session_factory, panel)

    await run_order_safety(orders, reconcile, [ADMIN])
    await run_order_safety(orders, reconcile, [ADMIN])  # the next cycle: nothing new

    assert (await get_order(session_factory, old)).state == OrderState.UNKNOWN
    assert (await get_order(session_factory, young)).state == OrderState.PLACING  # a live placer's
    alerts = await admin_alerts(session_factory)
    assert [(a.order_id, a.payload["alert"]) for a in alerts] == [(old, "unknown_order")]
    assert sim.state.count("add") == 0
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("8") and refunds == []  # charged, not refunded blindly


async def test_single_process_start_up_settles_every_orphan_at_once(
    session_factory: Factory, panel: PanelClient
) -> None:
    await make_user(session_factory, funds="10")
    fresh = await orphan(session_factory, age=timedelta(seconds=1))
    orders = OrderService(session_factory, panel)
    assert await orders.recover_interrupted(only_process=False) == 0  # another instance may place it
    assert await orders.recover_interrupted(only_process=True) == 1
    assert (await get_order(session_factory, fresh)).state == OrderState.UNKNOWN


@asynccontextmanager
async def answered_late(
    factory: Factory, state: PanelState, sim: SimulatorHandle, *, draft: str, seconds: float
) -> AsyncIterator[tuple[PanelClient, asyncio.Task[Placement]]]:
    """An order being placed on a panel that commits it at once and answers `seconds` later."""
    async with PanelClient(sim.url, API_KEY, timeout=10, max_requests_per_second=0) as slow_panel:
        orders = OrderService(factory, slow_panel, placing_grace=timedelta(seconds=20))
        view = await service_view(factory, slow_panel, PLAIN)
        state.inject_fault("add", "hang_after_commit", seconds=seconds)
        values = {"link": f"https://x.io/{draft}", "quantity": 100}
        placing = asyncio.create_task(orders.place(user_id=1001, draft_key=draft, view=view, values=values))
        yield slow_panel, placing


async def test_a_late_answer_never_revives_an_order_an_admin_refunded(
    session_factory: Factory, state: PanelState, sim: SimulatorHandle
) -> None:
    await make_user(session_factory, funds="10")
    async with answered_late(session_factory, state, sim, draft="late", seconds=1.5) as (panel, placing):
        await asyncio.sleep(0.5)
        # Meanwhile: the order is surfaced (another instance's sweep) and an admin refunds it.
        sweeper = OrderService(session_factory, panel)
        reconcile = ReconcileService(session_factory, panel)
        assert await sweeper.sweep_placing(grace=timedelta(0)) != []
        async with session_factory() as session:
            order_id = (await session.execute(select(Order.id).where(Order.draft_key == "late"))).scalar_one()
        assert (await reconcile.mark_not_placed(order_id, actor_id=ADMIN)).outcome == ReconcileOutcome.DONE
        result = await placing

    assert result.outcome == Outcome.UNKNOWN
    stored = await get_order(session_factory, order_id)
    assert stored.state == OrderState.REFUSED and stored.upstream_id is None  # not revived
    found = await problems(session_factory)
    assert [(p.order_id, p.kind) for p in found] == [(order_id, ProblemKind.LATE_ANSWER)]
    assert found[0].upstream_id and found[0].upstream_id in state.orders
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10") and len(refunds) == 1
    assert sim.state.count("add") == 1


async def test_a_failing_outcome_write_lands_on_the_problem_list(
    session_factory: Factory, panel: PanelClient, state: PanelState, sim: SimulatorHandle
) -> None:
    """The panel answers an id another order already holds: step 3 fails, nothing is lost."""
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    view = await service_view(session_factory, panel, PLAIN)
    first = await place(orders, view, link="https://x.io/first", quantity=100)
    state.next_order_id = int(first.upstream_id or 0)  # the panel hands out the same id again
    result = await orders.place(
        user_id=1001, draft_key="dup", view=view, values={"link": "https://x.io/second", "quantity": 100}
    )
    assert result.outcome == Outcome.UNKNOWN
    stored = await get_order(session_factory, result.order.id)
    assert stored.state == OrderState.UNKNOWN and stored.upstream_id is None
    found = await problems(session_factory)
    assert [(p.order_id, p.kind, p.upstream_id) for p in found] == [
        (stored.id, ProblemKind.RECORD_FAILED, first.upstream_id)
    ]
    balance, total, _ = await money_of(session_factory)
    assert balance == total == Decimal("10") - first.price - stored.price


_CLOCK = itertools.count(1)


async def poll_until_settled(poller: StatusPoller, factory: Factory, order_id: int, cycles: int) -> Order:
    """`cycles` poll cycles, each 40 minutes after the one before (every order is due again)."""
    for _ in range(cycles):
        await poller.poll_once(now=later(next(_CLOCK) * 40))
    return await get_order(factory, order_id)


async def test_partial_with_unusable_remains_waits_then_goes_to_the_admins(
    session_factory: Factory, panel: PanelClient, state: PanelState
) -> None:
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    view = await service_view(session_factory, panel, PLAIN)
    order = await place(orders, view, link="https://x.io/p", quantity=1000)
    sim_order = state.orders[order.upstream_id or ""]
    sim_order.status, sim_order.remains = "Partial", "Unknown"
    poller = StatusPoller(session_factory, panel)

    waiting = await poll_until_settled(poller, session_factory, order.id, UNUSABLE_REPORTS_LIMIT - 1)
    assert waiting.state == OrderState.ACTIVE and waiting.refunded == 0  # asks again, settles nothing
    held = await poll_until_settled(poller, session_factory, order.id, 1)
    assert held.state == OrderState.REVIEW and held.refunded == 0
    assert [p.kind for p in await problems(session_factory)] == [ProblemKind.UNUSABLE_REFUND]
    reconcile = ReconcileService(session_factory, panel)
    assert [o.id for o in await reconcile.list_unknown()] == [order.id]

    # The admin settles it by hand: an amount, one ledger entry, the customer told.
    too_much = await reconcile.refund_amount(order.id, order.price + 1, actor_id=ADMIN)
    assert too_much.outcome == ReconcileOutcome.BAD_AMOUNT
    done = await reconcile.refund_amount(order.id, Decimal("0.40"), actor_id=ADMIN)
    assert done.outcome == ReconcileOutcome.DONE
    settled = await get_order(session_factory, order.id)
    assert settled.state == OrderState.PARTIAL and settled.refunded == Decimal("0.40")
    assert await problems(session_factory) and all(p.resolved_at for p in await problems(session_factory))
    again = await reconcile.refund_amount(order.id, Decimal("0.40"), actor_id=ADMIN)
    assert again.outcome == ReconcileOutcome.WRONG_STATE
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10") - order.price + Decimal("0.40") and len(refunds) == 1


async def test_partial_that_becomes_usable_is_settled_normally(
    session_factory: Factory, panel: PanelClient, state: PanelState
) -> None:
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    view = await service_view(session_factory, panel, PLAIN)
    order = await place(orders, view, link="https://x.io/q", quantity=1000)
    sim_order = state.orders[order.upstream_id or ""]
    sim_order.status, sim_order.remains = "Partial", None
    poller = StatusPoller(session_factory, panel)
    await poll_until_settled(poller, session_factory, order.id, 1)
    sim_order.remains = 250
    settled = await poll_until_settled(poller, session_factory, order.id, 1)
    assert settled.state == OrderState.PARTIAL
    assert settled.refunded == (order.price * 250 / 1000).quantize(Decimal("0.01"), rounding="ROUND_DOWN")


async def test_error_status_is_never_refunded_without_an_admin(
    session_factory: Factory, panel: PanelClient, state: PanelState
) -> None:
    await make_user(session_factory, funds="10")
    orders = OrderService(session_factory, panel)
    view = await service_view(session_factory, panel, PLAIN)
    order = await place(orders, view, link="https://x.io/e", quantity=1000)
    state.orders[order.upstream_id or ""].status = "Error"
    poller = StatusPoller(session_factory, panel)
    held = await poll_until_settled(poller, session_factory, order.id, UNUSABLE_REPORTS_LIMIT)
    assert held.state == OrderState.REVIEW and held.refunded == 0
    # Refund in full is one of the admin's choices.
    done = await ReconcileService(session_factory, panel).mark_not_placed(order.id, actor_id=ADMIN)
    assert done.outcome == ReconcileOutcome.DONE
    assert (await get_order(session_factory, order.id)).state == OrderState.CANCELED  # ran, not "not placed"
    balance, total, refunds = await money_of(session_factory)
    assert balance == total == Decimal("10") and len(refunds) == 1


async def subscription(factory: Factory, panel: PanelClient, posts: int) -> Order:
    orders = OrderService(factory, panel)
    view = await service_view(factory, panel, SUBSCRIPTION)
    result = await orders.place(
        user_id=1001,
        draft_key=f"sub-{posts}",
        view=view,
        values={"username": f"someone{posts}", "min": 100, "max": 100, "posts": posts, "delay": "0"},
    )
    assert result.outcome == Outcome.PLACED, result
    return result.order


async def test_subscription_refunds_follow_the_posts_the_panel_reports(
    session_factory: Factory, panel: PanelClient, state: PanelState
) -> None:
    await make_user(session_factory, funds="100")
    poller = StatusPoller(session_factory, panel)
    canceled = await subscription(session_factory, panel, posts=10)
    expired = await subscription(session_factory, panel, posts=4)
    state.orders[canceled.upstream_id or ""].status = "Canceled"
    state.orders[canceled.upstream_id or ""].posts_done = 6  # 6 of 10 delivered before the cancel
    state.orders[expired.upstream_id or ""].status = "Expired"
    state.orders[expired.upstream_id or ""].posts_done = 1  # 1 of 4 delivered before expiry
    await poller.poll_once(now=later(1))

    after_cancel = await get_order(session_factory, canceled.id)
    after_expiry = await get_order(session_factory, expired.id)
    assert after_cancel.state == OrderState.CANCELED
    assert after_cancel.refunded == (canceled.price * 4 / 10).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert after_expiry.state == OrderState.COMPLETED
    assert after_expiry.refunded == (expired.price * 3 / 4).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    balance, total, _ = await money_of(session_factory)
    assert balance == total


async def test_add_reply_with_an_id_and_an_error_is_placed_and_listed(
    session_factory: Factory, panel: PanelClient, state: PanelState, sim: SimulatorHandle
) -> None:
    """Decision: an id means the panel holds an order; it is tracked (never refunded as a refusal)
    and the admins see the panel's words."""
    from aiohttp import web

    await make_user(session_factory, funds="10")
    view = await service_view(session_factory, panel, PLAIN)

    async def odd_add(request: web.Request) -> web.Response:
        return web.json_response({"order": 777001, "error": "Service is under maintenance"})

    app = web.Application()
    app.router.add_post("/api/v2", odd_add)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with PanelClient(f"http://127.0.0.1:{port}/api/v2", API_KEY, timeout=2) as odd:
            result = await OrderService(session_factory, odd).place(
                user_id=1001, draft_key="odd", view=view, values={"link": "https://x.io/o", "quantity": 100}
            )
    finally:
        await runner.cleanup()
    assert result.outcome == Outcome.PLACED
    stored = await get_order(session_factory, result.order.id)
    assert stored.state == OrderState.ACTIVE and stored.upstream_id == "777001"
    found = await problems(session_factory)
    assert [(p.kind, p.upstream_id) for p in found] == [(ProblemKind.ADD_WITH_ERROR, "777001")]
    assert "maintenance" in found[0].detail
    async with session_factory() as session:
        refunds = await session.execute(select(LedgerEntry).where(LedgerEntry.order_id == stored.id))
        assert [e.kind for e in refunds.scalars()] == ["order_charge"]


async def test_the_late_answer_settles_an_order_nobody_decided_yet(
    session_factory: Factory, state: PanelState, sim: SimulatorHandle
) -> None:
    await make_user(session_factory, funds="10")
    async with answered_late(session_factory, state, sim, draft="slow", seconds=1.0) as (_, placing):
        await asyncio.sleep(0.4)
        async with session_factory.begin() as session:
            await session.execute(
                update(Order).where(Order.draft_key == "slow").values(state=OrderState.UNKNOWN)
            )
        result = await placing
    assert result.outcome == Outcome.PLACED and result.order.state == OrderState.ACTIVE
    assert await problems(session_factory) == []
