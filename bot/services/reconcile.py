"""Settling what the bot could not decide alone, for the admins.

An order whose `add` outcome is unknown (state UNKNOWN) is charged but may or may not exist
upstream. An admin looks it up in the panel and either attaches the upstream order id (verified with
the panel first; tracking then continues as for any placed order) or marks it as not placed (state
REFUSED with a full refund, exactly once through the ledger key `order:{id}:refund`).
`stuck_orders` lists active orders that have shown no progress for too long, and
`queue_admin_alerts` tells the admins about both through the outbox, once per order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import OrderNotFound, OrderStatus, PanelClient, PanelError, UpstreamUnavailable
from bot.panel.parsing import to_str_id
from bot.services.refunds import refund_order
from bot.services.tracking import NOTICE_OF_STATE as NOTICE_OF_FINAL
from bot.services.tracking import apply_order_status, final_state_of, queue_order_notice
from storage.models import NotificationKind, Order, OrderProblem, OrderState, utcnow
from storage.repositories.orders import OrderRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.problems import ProblemRepository
from storage.repositories.tracking import TrackingRepository

if TYPE_CHECKING:
    from bot.services.ordering import OrderService

log = logging.getLogger(__name__)


class ReconcileOutcome(StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"  # no such order here
    WRONG_STATE = "wrong_state"  # not (or no longer) waiting to be settled
    DUPLICATE = "duplicate"  # that upstream id already belongs to another order
    UPSTREAM_NOT_FOUND = "upstream_not_found"  # the panel does not know that id
    UNAVAILABLE = "unavailable"  # the panel could not be asked; try again
    REFUSED = "refused"  # the panel answered with another error (see message)
    BAD_AMOUNT = "bad_amount"  # not between 0 and what is left of the price


@dataclass(frozen=True)
class ReconcileResult:
    outcome: ReconcileOutcome
    order: Order | None = None
    message: str | None = None


def last_change(order: Order) -> datetime:
    return order.status_changed_at or order.placed_at or order.created_at


class ReconcileService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        *,
        stuck_after: timedelta = timedelta(hours=48),
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.stuck_after = stuck_after

    async def list_unknown(self, *, limit: int = 50, offset: int = 0) -> list[Order]:
        """Orders waiting for an admin's decision (outcome unknown, refund to review), oldest first."""
        async with self.session_factory() as session:
            return await OrderRepository(session).in_states(
                [OrderState.UNKNOWN, OrderState.REVIEW], limit=limit, offset=offset
            )

    async def list_problems(self, *, limit: int = 50) -> list[tuple[OrderProblem, Order]]:
        """Open findings (late answers, failed records, odd replies), oldest first."""
        async with self.session_factory() as session:
            return await ProblemRepository(session).open_with_orders(limit=limit)

    async def dismiss_problem(self, problem_id: int, actor_id: int) -> bool:
        """An admin has dealt with a finding (e.g. cancelled the upstream order by hand)."""
        async with self.session_factory.begin() as session:
            done = await ProblemRepository(session).resolve(
                problem_id, admin_id=actor_id, resolution="dismissed", now=utcnow()
            )
        if done:
            log.info("problem %s dismissed by admin %s", problem_id, actor_id)
        return done

    async def refund_amount(self, order_id: int, amount: Decimal, actor_id: int) -> ReconcileResult:
        """Settle a REVIEW order (the panel ended it; the refund was unclear) with the admin's amount.

        The order takes the final state the panel reported (Partial when unclear), the amount is
        one ledger entry (`order:{id}:refund`, at most what is left of the price; 0 refunds nothing)
        and the customer is told.
        """
        now = utcnow()
        async with self.session_factory.begin() as session:
            stored = await OrderRepository(session).get_for_update(order_id)
            if stored is None:
                return ReconcileResult(ReconcileOutcome.NOT_FOUND)
            if stored.state != OrderState.REVIEW:
                return ReconcileResult(ReconcileOutcome.WRONG_STATE, stored)
            left = stored.price - stored.refunded
            if amount < 0 or amount > left or amount != amount.quantize(Decimal("0.01")):
                return ReconcileResult(ReconcileOutcome.BAD_AMOUNT, stored, str(left))
            await self._settle_review(session, stored, amount, actor_id, now)
            return ReconcileResult(ReconcileOutcome.DONE, stored)

    @staticmethod
    async def _settle_review(
        session: AsyncSession, stored: Order, amount: Decimal, actor_id: int, now: datetime
    ) -> None:
        """A locked REVIEW order takes the final state the panel reported, with the admin's refund."""
        await refund_order(
            session, stored, amount, note=f"#{stored.id} refund set by an admin", actor_id=actor_id
        )
        final = final_state_of(stored.upstream_status)
        stored.state = final
        stored.finished_at = now
        stored.next_poll_at = None
        stored.updated_at = now
        await ProblemRepository(session).resolve_for_order(
            stored.id, admin_id=actor_id, resolution="refunded", now=now
        )
        await queue_order_notice(session, stored, NOTICE_OF_FINAL[final], now)
        log.info("order %s settled by admin %s with a refund of %s", stored.id, actor_id, amount)

    async def attach_upstream_id(self, order_id: int, upstream_id: str, actor_id: int) -> ReconcileResult:
        """The order exists upstream as `upstream_id`: verify it there, then track it like any other."""
        upstream_id = to_str_id(upstream_id)
        if not upstream_id or len(upstream_id) > 64:
            return ReconcileResult(ReconcileOutcome.UPSTREAM_NOT_FOUND, message="empty or overlong id")
        async with self.session_factory() as session:
            orders = OrderRepository(session)
            order = await orders.get(order_id)
            if order is None:
                return ReconcileResult(ReconcileOutcome.NOT_FOUND)
            if order.state != OrderState.UNKNOWN:
                return ReconcileResult(ReconcileOutcome.WRONG_STATE, order)
            holder = await orders.by_upstream_id(upstream_id)
            if holder is not None:
                return ReconcileResult(ReconcileOutcome.DUPLICATE, holder)
        try:
            status = await self.panel.status(upstream_id)
        except OrderNotFound as error:
            return ReconcileResult(ReconcileOutcome.UPSTREAM_NOT_FOUND, order, error.message)
        except UpstreamUnavailable as error:
            return ReconcileResult(ReconcileOutcome.UNAVAILABLE, order, error.message)
        except PanelError as error:
            return ReconcileResult(ReconcileOutcome.REFUSED, order, error.message)
        try:
            return await self._attach(order_id, upstream_id, status, actor_id)
        except IntegrityError:  # attached to another order concurrently
            async with self.session_factory() as session:
                holder = await OrderRepository(session).by_upstream_id(upstream_id)
            return ReconcileResult(ReconcileOutcome.DUPLICATE, holder)

    async def _attach(
        self, order_id: int, upstream_id: str, status: OrderStatus, actor_id: int
    ) -> ReconcileResult:
        now = utcnow()
        async with self.session_factory.begin() as session:
            stored = await OrderRepository(session).get_for_update(order_id)
            if stored is None:
                return ReconcileResult(ReconcileOutcome.NOT_FOUND)
            if stored.state != OrderState.UNKNOWN:
                return ReconcileResult(ReconcileOutcome.WRONG_STATE, stored)
            # Start from the state a fresh placement has, then apply what the panel reports, so
            # "started"/final messages and refunds follow the same rules as for polled orders.
            stored.state = OrderState.ACTIVE
            stored.upstream_id = upstream_id
            stored.upstream_status = "Pending"
            stored.placed_at = stored.placed_at or stored.created_at
            stored.status_changed_at = now
            stored.next_poll_at = now
            stored.error = None
            await session.flush()
            await apply_order_status(session, stored, status, now)
            await ProblemRepository(session).resolve_for_order(
                stored.id, admin_id=actor_id, resolution="attached", now=now
            )
            log.info(
                "order %s attached to upstream %s by admin %s (upstream status %s)",
                stored.id,
                upstream_id,
                actor_id,
                status.status_raw,
            )
            return ReconcileResult(ReconcileOutcome.DONE, stored)

    async def mark_not_placed(
        self, order_id: int, actor_id: int, reason: str | None = None
    ) -> ReconcileResult:
        """Refund in full: the order never reached the panel (UNKNOWN), or the admin gives all of it
        back (REVIEW). Final state REFUSED, full refund once, tell the customer."""
        now = utcnow()
        async with self.session_factory.begin() as session:
            stored = await OrderRepository(session).get_for_update(order_id)
            if stored is None:
                return ReconcileResult(ReconcileOutcome.NOT_FOUND)
            if stored.state == OrderState.REVIEW:  # it ran at the panel: its own final state, all back
                await self._settle_review(session, stored, stored.price - stored.refunded, actor_id, now)
                return ReconcileResult(ReconcileOutcome.DONE, stored)
            if stored.state != OrderState.UNKNOWN:
                return ReconcileResult(ReconcileOutcome.WRONG_STATE, stored)
            await ProblemRepository(session).resolve_for_order(
                stored.id, admin_id=actor_id, resolution="refunded", now=now
            )
            await refund_order(
                session,
                stored,
                stored.price - stored.refunded,
                note=f"#{stored.id} not placed (checked by an admin)",
                actor_id=actor_id,
            )
            stored.state = OrderState.REFUSED
            stored.finished_at = now
            stored.next_poll_at = None
            stored.updated_at = now
            if reason:
                stored.error = reason[:500]
            await queue_order_notice(session, stored, NotificationKind.ORDER_NOT_PLACED, now)
            log.info(
                "order %s marked as not placed by admin %s; refunded %s", stored.id, actor_id, stored.refunded
            )
            return ReconcileResult(ReconcileOutcome.DONE, stored)

    async def stuck_orders(
        self, older_than: timedelta | None = None, *, now: datetime | None = None, limit: int = 50
    ) -> list[Order]:
        """Active orders without any reported progress for longer than `older_than` (default: stuck_after)."""
        now = now or utcnow()
        async with self.session_factory() as session:
            return await TrackingRepository(session).stuck(
                now - (older_than or self.stuck_after), limit=limit
            )

    async def queue_admin_alerts(
        self, admin_ids: Iterable[int], *, now: datetime | None = None, limit: int = 100
    ) -> int:
        """Queue one alert per admin for each unknown and each stuck order (once per order and stall)."""
        now = now or utcnow()
        admins = sorted(set(admin_ids))
        if not admins:
            return 0
        unknown = await self.list_unknown(limit=limit)
        stuck = await self.stuck_orders(now=now, limit=limit)
        problems = await self.list_problems(limit=limit)
        added = 0
        async with self.session_factory.begin() as session:
            outbox = OutboxRepository(session)
            for problem, order in problems:
                payload = {
                    "alert": "order_problem",
                    "kind": problem.kind,
                    "order_id": order.id,
                    "user_id": order.user_id,
                    "service": order.service_name,
                    "status": order.upstream_status,
                    "state": order.state,
                    "upstream_id": problem.upstream_id,
                    "detail": problem.detail,
                    "since": problem.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                }
                for admin_id in admins:
                    added += await outbox.add(
                        user_id=admin_id,
                        order_id=order.id,
                        kind=NotificationKind.ADMIN_ALERT,
                        dedupe_key=f"admin:{admin_id}:problem:{problem.id}",
                        payload=payload,
                        now=now,
                    )
            for family, orders in (("unknown_order", unknown), ("stuck_order", stuck)):
                for order in orders:
                    review = family == "unknown_order" and order.state == OrderState.REVIEW
                    alert = "review_order" if review else family
                    since = last_change(order)
                    stall = f":{int(since.timestamp())}" if alert == "stuck_order" else ""
                    payload = {
                        "alert": alert,
                        "order_id": order.id,
                        "user_id": order.user_id,
                        "service": order.service_name,
                        "status": order.upstream_status,
                        "since": since.strftime("%Y-%m-%d %H:%M UTC"),
                    }
                    for admin_id in admins:
                        added += await outbox.add(
                            user_id=admin_id,
                            order_id=order.id,
                            kind=NotificationKind.ADMIN_ALERT,
                            dedupe_key=f"admin:{admin_id}:{alert}:{order.id}{stall}",
                            payload=payload,
                            now=now,
                        )
        return added


async def run_admin_alerts(reconcile: ReconcileService, admin_ids: Iterable[int]) -> None:
    """The scheduler job: tell the admins about unknown and stuck orders. Never raises."""
    try:
        await reconcile.queue_admin_alerts(admin_ids)
    except Exception:
        log.exception("queueing admin alerts failed")


async def run_order_safety(
    orders: OrderService, reconcile: ReconcileService, admin_ids: Iterable[int]
) -> None:
    """The scheduler job: orders left PLACING past the grace become UNKNOWN, and the admins hear of
    them (and of every open problem) at once, each once. Never raises."""
    try:
        await orders.sweep_placing()
    except Exception:
        log.exception("sweeping orders left placing failed")
    try:
        await reconcile.queue_admin_alerts(admin_ids)
    except Exception:
        log.exception("queueing admin alerts failed")
