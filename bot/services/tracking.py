"""Order tracking: batched status polling, automatic refunds and the outbox rows that notify.

One cycle (`StatusPoller.poll_once`) is three steps, never holding a database session across a
panel call:
1. read the ACTIVE orders whose `next_poll_at` is due (a snapshot, session closed);
2. ask the panel with the multi form, 100 ids per request;
3. per batch, one transaction writes only the orders whose status, remains or start count changed
   (status + refund + outbox row together), and moves `next_poll_at` of the unchanged ones in one
   bulk statement that leaves them otherwise untouched.

How often an order is asked depends on its age (`PollSchedule`): every cycle while it is young or a
cancel was just requested, then less and less often up to `max_delay`, so the number of requests
grows slowly with the number of active orders.

Money: a final status refunds exactly once through the ledger key `order:{id}:refund` (the same key
OrderService and ReconcileService use). Partial refunds `price × remains / quantity`, with remains
capped to [0, quantity] and the result rounded DOWN to the cent, so a customer is never refunded
more than they paid (the shop keeps the sub-cent rest); Canceled refunds the whole price.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import (
    OrderStatus,
    PanelClient,
    PanelError,
    RefillStatus,
    StatusGroup,
    UnusableReply,
    UpstreamUnavailable,
    normalize_status,
)
from bot.panel import RefillState as UpstreamRefillState
from bot.services.growth.notices import wants_notice
from bot.services.growth.referrals import on_order_final
from bot.services.panel_guard import PanelGuard
from bot.services.refunds import refund_order
from bot.services.upstream_alerts import queue_admin_alert
from storage.models import (
    NotificationKind,
    Order,
    OrderState,
    ProblemKind,
    Refill,
    RefillState,
    utcnow,
)
from storage.repositories.orders import OrderRepository
from storage.repositories.outbox import OutboxRepository, ScheduleRow
from storage.repositories.problems import ProblemRepository
from storage.repositories.tracking import TrackingRepository

if TYPE_CHECKING:
    from bot.services.notifier import Notifier

log = logging.getLogger(__name__)

_T = TypeVar("_T")

CENT = Decimal("0.01")
STATUS_BATCH = 100  # ids per multi request (docs/panel-api-family.md §5)
# A final report whose refund cannot be computed is asked again this many times before the order
# goes to the admins (state REVIEW); one odd reply may be a glitch, a repeated one is not.
UNUSABLE_REPORTS_LIMIT = 3
ERROR_STATUSES = frozenset({"error", "fail", "failed"})

STATE_OF_GROUP: Mapping[StatusGroup, OrderState] = {
    StatusGroup.PENDING: OrderState.ACTIVE,
    StatusGroup.RUNNING: OrderState.ACTIVE,
    StatusGroup.COMPLETED: OrderState.COMPLETED,
    StatusGroup.PARTIAL: OrderState.PARTIAL,
    StatusGroup.CANCELED: OrderState.CANCELED,
}
NOTICE_OF_STATE: Mapping[OrderState, NotificationKind] = {
    OrderState.COMPLETED: NotificationKind.ORDER_COMPLETED,
    OrderState.PARTIAL: NotificationKind.ORDER_PARTIAL,
    OrderState.CANCELED: NotificationKind.ORDER_CANCELED,
}
# Refills (StatusPoller.poll_refills), the defaults of REFILL_UNCONFIRMED_CHECKS, REFILL_ERROR_LIMIT
# and REFILL_MAX_OPEN_DAYS (bot/config.py): a refill without an upstream id is settled after this
# many refill cycles in which its order showed nothing new; one the panel answers errors about,
# after this many errors in a row; any refill, after this long.
IDLESS_REFILL_CHECKS = 3
REFILL_ERROR_LIMIT = 5
REFILL_MAX_OPEN = timedelta(days=7)
REFILL_NOTICE_OF: Mapping[RefillState, NotificationKind] = {
    RefillState.COMPLETED: NotificationKind.REFILL_COMPLETED,
    RefillState.REJECTED: NotificationKind.REFILL_REJECTED,
    RefillState.UNCONFIRMED: NotificationKind.REFILL_UNCONFIRMED,
}
REFILL_STATE_OF: Mapping[UpstreamRefillState, RefillState] = {
    UpstreamRefillState.PENDING: RefillState.REQUESTED,
    UpstreamRefillState.RUNNING: RefillState.RUNNING,
    UpstreamRefillState.COMPLETED: RefillState.COMPLETED,
    UpstreamRefillState.REJECTED: RefillState.REJECTED,
}


# --- money -------------------------------------------------------------------------------------


def partial_refund(price: Decimal, quantity: int | None, remains: int | None) -> Decimal:
    """`price × remains / quantity`, remains capped to [0, quantity], rounded down to the cent.

    Zero when it cannot be computed (no quantity, e.g. subscriptions and packages; remains
    "Unknown"): those are left to the admins rather than guessed.
    """
    if price <= 0 or not quantity or quantity <= 0 or remains is None:
        return Decimal("0")
    undelivered = min(max(remains, 0), quantity)
    amount = (price * undelivered / quantity).quantize(CENT, rounding=ROUND_DOWN)
    return min(amount, price)


def refund_due(order: Order, state: OrderState, remains: int | None) -> Decimal:
    """What a final state gives back: all of the price for Canceled, the undelivered share for Partial."""
    if state == OrderState.CANCELED:
        return max(order.price - order.refunded, Decimal("0"))
    if state == OrderState.PARTIAL:
        return max(partial_refund(order.price, order.quantity, remains) - order.refunded, Decimal("0"))
    return Decimal("0")


def _ordered_posts(order: Order) -> int | None:
    raw = (order.params or {}).get("posts")
    try:
        posts = int(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None
    return posts if posts is not None and posts > 0 else None


def settled_refund(order: Order, state: OrderState, status: OrderStatus) -> Decimal | None:
    """What a final report refunds, or None when the report cannot tell (the admins decide).

    - "Error"/"Fail" (internal states leaking out; such an order may still be retried and run
      upstream): None, never refunded automatically.
    - Subscriptions are charged for `max × posts` up front; whatever their final status
      (Completed, Expired, Canceled) the undelivered posts are refunded, `price × (posts ordered −
      posts reported) / posts ordered` rounded down to the cent. No posts count reported, or an
      unlimited subscription: None.
    - Partial without usable `remains` (`"Unknown"`, null, `"n/a"`) or without a quantity
      (packages): None. Canceled: the whole price. Completed: nothing.
    """
    if (status.status_raw or "").strip().casefold() in ERROR_STATUSES:
        return None
    if order.service_type == "subscriptions":
        ordered = _ordered_posts(order)
        if ordered is None or status.posts is None:
            return None
        undelivered = min(max(ordered - status.posts, 0), ordered)
        share = (order.price * undelivered / ordered).quantize(CENT, rounding=ROUND_DOWN)
        return max(min(share, order.price) - order.refunded, Decimal("0"))
    unusable = not order.quantity or order.quantity <= 0 or status.remains is None
    if state == OrderState.PARTIAL and order.price > 0 and unusable:
        return None
    return refund_due(order, state, status.remains)


def final_state_of(upstream_status: str | None) -> OrderState:
    """The final state an order under review takes once settled (Partial when unclear)."""
    state = STATE_OF_GROUP[normalize_status(upstream_status)] if upstream_status else OrderState.PARTIAL
    return state if state.is_final else OrderState.PARTIAL


# --- notifications -----------------------------------------------------------------------------


def order_payload(order: Order, **extra: Any) -> dict[str, Any]:
    """The facts a message about an order shows; JSON-safe, rendered later in the user's language."""
    link = order.link or (order.params or {}).get("username")
    payload: dict[str, Any] = {
        "order_id": order.id,
        "service_id": order.service_id,
        "service": order.service_name,
        "link": link,
        "quantity": order.quantity,
        "start_count": order.start_count,
        "remains": order.remains,
        "status": order.upstream_status,
        "refund": str(order.refunded),
        "currency": order.currency,
    }
    payload.update(extra)
    return payload


async def queue_order_notice(
    session: AsyncSession, order: Order, kind: NotificationKind, now: datetime, **extra: Any
) -> bool:
    """One message per (order, kind) ever: the dedupe key makes a second attempt a no-op."""
    if not await wants_notice(session, order.user_id, kind):  # the customer's notice settings
        return False
    return await OutboxRepository(session).add(
        user_id=order.user_id,
        order_id=order.id,
        kind=kind,
        dedupe_key=f"order:{order.id}:{kind}",
        payload=order_payload(order, **extra),
        now=now,
    )


# --- applying one status -----------------------------------------------------------------------


def _raw(status: OrderStatus) -> str:
    return (status.status_raw or "").strip()[:64] or status.status.value.title()


def _same_raw(stored: str | None, raw: str) -> bool:
    return (stored or "").strip().casefold() == raw.casefold()


def differs(
    upstream_status: str | None, remains: int | None, start_count: int | None, status: OrderStatus
) -> bool:
    """Did the panel report anything new? Unknown (None) counters never count as a change."""
    if not _same_raw(upstream_status, _raw(status)):
        return True
    if status.remains is not None and status.remains != remains:
        return True
    return status.start_count is not None and status.start_count != start_count


@dataclass(frozen=True)
class Applied:
    changed: bool
    final: bool = False
    refund: Decimal = Decimal("0")
    notices: int = 0


async def apply_order_status(
    session: AsyncSession, order: Order, status: OrderStatus, now: datetime
) -> Applied:
    """Write one reported status onto a locked ACTIVE order: fields, final state, refund, outbox row.

    Everything happens in the caller's transaction, so a crash leaves either all of it or none.
    """
    state = STATE_OF_GROUP[status.status]
    if not differs(order.upstream_status, order.remains, order.start_count, status) and state == order.state:
        return Applied(changed=False)
    old_group = normalize_status(order.upstream_status) if order.upstream_status else StatusGroup.PENDING
    order.upstream_status = _raw(status)
    if status.remains is not None:
        order.remains = status.remains
    if status.start_count is not None:
        order.start_count = status.start_count
    if status.charge is not None:
        order.upstream_charge = status.charge
    order.status_changed_at = now
    order.updated_at = now
    notices = 0
    if state.is_final:
        # Only the final report's remains count: an earlier figure may be stale (too high).
        amount = settled_refund(order, state, status)
        if amount is None:
            return await hold_unusable(session, order, status, now)
        before = order.refunded
        await refund_order(session, order, amount, note=f"#{order.id} {state.value}: refund")
        order.state = state
        order.finished_at = now
        order.next_poll_at = None
        await on_order_final(session, order, now)  # referral earning (bot/services/growth/referrals.py)
        notices += await queue_order_notice(session, order, NOTICE_OF_STATE[state], now)
        return Applied(changed=True, final=True, refund=order.refunded - before, notices=notices)
    order.unusable_reports = 0  # the panel went on with it: a later odd final report counts anew
    if status.status == StatusGroup.RUNNING and old_group == StatusGroup.PENDING:
        notices += await queue_order_notice(session, order, NotificationKind.ORDER_STARTED, now)
    return Applied(changed=True, notices=notices)


async def hold_unusable(session: AsyncSession, order: Order, status: OrderStatus, now: datetime) -> Applied:
    """A final report whose refund cannot be computed: ask again a few times, then the admins decide.

    Until the limit the order stays ACTIVE (polled as usual); then it becomes REVIEW, leaves the
    polling and is put on the problem list. Nothing is refunded or told to the customer meanwhile.
    """
    order.unusable_reports = (order.unusable_reports or 0) + 1
    if order.unusable_reports < UNUSABLE_REPORTS_LIMIT:
        log.info(
            "order %s: final status %r without a usable refund figure (%d of %d); asking again",
            order.id,
            order.upstream_status,
            order.unusable_reports,
            UNUSABLE_REPORTS_LIMIT,
        )
        return Applied(changed=True)
    order.state = OrderState.REVIEW
    order.next_poll_at = None
    detail = f"{order.upstream_status}, remains {status.remains}, posts {status.posts}"
    await ProblemRepository(session).add(
        order_id=order.id,
        kind=ProblemKind.UNUSABLE_REFUND,
        detail=detail,
        upstream_id=order.upstream_id,
        dedupe_key=f"order:{order.id}:{ProblemKind.UNUSABLE_REFUND}",
        now=now,
    )
    log.warning("order %s: no refund computable from %s; left for the admins", order.id, detail)
    return Applied(changed=True, final=True)


# --- scheduling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollSchedule:
    """When to ask about an order again.

    Young orders (and those with a fresh cancel request) are asked every cycle; after that the wait
    grows with the order's age (`age_factor` × age) up to `max_delay`. An order the panel answered
    with an error for is asked again after `error_delay`.
    """

    fresh_for: timedelta = timedelta(minutes=10)
    fresh_delay: timedelta = timedelta(0)
    age_factor: float = 0.1
    min_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(minutes=30)
    error_delay: timedelta = timedelta(minutes=15)

    def delay(self, age: timedelta, *, cancel_age: timedelta | None = None) -> timedelta:
        if age < self.fresh_for or (cancel_age is not None and cancel_age < self.fresh_for):
            return self.fresh_delay
        return min(max(age * self.age_factor, self.min_delay), self.max_delay)


@dataclass(frozen=True)
class _Snapshot:
    """What phase 1 read of an order: enough to decide without a session whether anything changed."""

    id: int
    upstream_id: str
    upstream_status: str | None
    remains: int | None
    start_count: int | None
    updated_at: datetime
    placed_at: datetime
    cancel_requested_at: datetime | None
    price: Decimal = Decimal("0")

    @classmethod
    def of(cls, order: Order) -> _Snapshot:
        assert order.upstream_id is not None
        return cls(
            id=order.id,
            upstream_id=order.upstream_id,
            upstream_status=order.upstream_status,
            remains=order.remains,
            start_count=order.start_count,
            updated_at=order.updated_at,
            placed_at=order.placed_at or order.created_at,
            cancel_requested_at=order.cancel_requested_at,
            price=order.price,
        )


@dataclass
class PollReport:
    """What one cycle did; `changed` is also the number of order rows written."""

    asked: int = 0
    changed: int = 0
    finalised: int = 0
    errors: int = 0
    upstream_calls: int = 0
    rescheduled: int = 0  # unchanged orders whose next check moved (bulk; row otherwise untouched)
    refunds: int = 0
    notices: int = 0  # outbox rows queued
    unavailable: str | None = None  # set when the panel failed and the cycle ended early

    @property
    def ok(self) -> bool:
        return self.unavailable is None


@dataclass
class RefillReport:
    asked: int = 0
    changed: int = 0
    finished: int = 0
    errors: int = 0
    upstream_calls: int = 0
    notices: int = 0
    unavailable: str | None = None


@dataclass(frozen=True)
class _RefillSnapshot:
    id: int
    state: str
    status_raw: str | None
    upstream_refill_id: str | None
    order_upstream_id: str | None
    created_at: datetime
    checks: int = 0


@dataclass(frozen=True)
class _Verdict:
    """What one check makes of a refill: its state, the raw status, and the checks without news."""

    state: RefillState
    raw: str
    reason: str | None = None
    checks: int = 0
    error: PanelError | None = None  # this check failed (counted in `checks`)


@dataclass
class _Batch:
    snapshots: list[_Snapshot]
    statuses: dict[str, OrderStatus | PanelError] = field(default_factory=dict)


class StatusPoller:
    """Polls the panel for active orders and open refills; see the module docstring."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        *,
        schedule: PollSchedule | None = None,
        max_orders_per_cycle: int = 2000,
        batch_size: int = STATUS_BATCH,
        max_refills_per_cycle: int = 500,
        idless_refill_checks: int = IDLESS_REFILL_CHECKS,
        refill_error_limit: int = REFILL_ERROR_LIMIT,
        refill_max_open: timedelta = REFILL_MAX_OPEN,
        upstream_timeout: float | None = 90.0,
        admin_ids: Sequence[int] = (),
        charge_factor: Decimal = Decimal(1),
        guard: PanelGuard | None = None,
        refresh_every: timedelta = timedelta(seconds=10),
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.schedule = schedule or PollSchedule()
        self.max_orders_per_cycle = max_orders_per_cycle
        self.batch_size = max(1, min(batch_size, STATUS_BATCH))
        self.max_refills_per_cycle = max_refills_per_cycle
        self.idless_refill_checks = max(1, idless_refill_checks)
        self.refill_error_limit = max(1, refill_error_limit)
        self.refill_max_open = refill_max_open
        self.upstream_timeout = upstream_timeout
        self.admin_ids = tuple(admin_ids)
        self.charge_factor = charge_factor  # PANEL_CURRENCY_RATE: the panel's charge in our money
        self.guard = guard
        self.refresh_every = refresh_every
        self._refreshed: dict[int, datetime] = {}
        self._overcharged: set[int] = set()  # orders already flagged (the outbox dedupes anyway)

    async def _ask(self, call: Awaitable[_T]) -> _T:
        """One panel call under an overall deadline (the client's own retries included)."""
        if self.upstream_timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self.upstream_timeout)
        except TimeoutError:
            raise UpstreamUnavailable(f"no answer within {self.upstream_timeout:g}s") from None

    # --- orders ----------------------------------------------------------------------------------

    async def poll_once(self, now: datetime | None = None) -> PollReport:
        """One cycle over the due orders. Never raises for panel trouble: it ends the cycle instead."""
        now = now or utcnow()
        report = PollReport()
        async with self.session_factory() as session:
            due = await OrderRepository(session).due_for_poll(now, limit=self.max_orders_per_cycle)
            snapshots = [_Snapshot.of(order) for order in due]
        for start in range(0, len(snapshots), self.batch_size):
            batch = _Batch(snapshots[start : start + self.batch_size])
            try:
                report.upstream_calls += 1
                batch.statuses = await self._ask(
                    self.panel.statuses([snap.upstream_id for snap in batch.snapshots])
                )
            except PanelError as error:
                report.unavailable = error.message
                log.warning(
                    "status poll stopped after %d of %d orders: %s",
                    report.asked,
                    len(snapshots),
                    error.message,
                )
                break
            report.asked += len(batch.snapshots)
            try:
                await self._write_batch(batch, now, report)
            except Exception:
                report.errors += len(batch.snapshots)
                log.exception("could not record the statuses of %d orders", len(batch.snapshots))
        if self.guard is not None:
            try:
                await self.guard.save()  # e.g. the panel turned out not to have the bulk form
            except Exception as error:
                log.warning("could not store the panel's capabilities: %s", type(error).__name__)
        if report.changed or report.errors or report.unavailable:
            log.info(
                "status poll: asked %d, changed %d, finalised %d, errors %d, calls %d%s",
                report.asked,
                report.changed,
                report.finalised,
                report.errors,
                report.upstream_calls,
                f", stopped: {report.unavailable}" if report.unavailable else "",
            )
        return report

    def _next_poll(self, snap: _Snapshot, now: datetime, *, failed: bool = False) -> datetime:
        if failed:
            return now + self.schedule.error_delay
        cancel_age = now - snap.cancel_requested_at if snap.cancel_requested_at is not None else None
        return now + self.schedule.delay(now - snap.placed_at, cancel_age=cancel_age)

    async def _write_batch(self, batch: _Batch, now: datetime, report: PollReport) -> None:
        """One transaction for the batch, one SAVEPOINT per changed order; counters reach `report`
        only once it committed.

        A status no order can hold (bot/panel/bounds.py) or a write the database refuses affects
        only its own order: it is kept as it was, asked again after `error_delay`, and the admins
        are told once; the batch's other orders are written.
        """
        done = PollReport()
        unchanged: list[ScheduleRow] = []
        changed: list[tuple[_Snapshot, OrderStatus]] = []
        unusable: list[tuple[_Snapshot, str]] = []
        overcharged: list[tuple[_Snapshot, Decimal]] = []
        for snap in batch.snapshots:
            result = batch.statuses.get(snap.upstream_id)
            if isinstance(result, OrderStatus) and result.charge is not None and snap.price > 0:
                charge = result.charge * self.charge_factor
                if charge > snap.price and snap.id not in self._overcharged:
                    overcharged.append((snap, charge))
            if not isinstance(result, OrderStatus):
                done.errors += 1
                reason = result.message if isinstance(result, PanelError) else "missing from the reply"
                log.warning("order %s (upstream %s): %s", snap.id, snap.upstream_id, reason)
                unchanged.append(
                    ScheduleRow(snap.id, snap.updated_at, self._next_poll(snap, now, failed=True))
                )
                if isinstance(result, UnusableReply):
                    unusable.append((snap, reason))
            elif differs(snap.upstream_status, snap.remains, snap.start_count, result) or (
                STATE_OF_GROUP[result.status] != OrderState.ACTIVE
            ):
                changed.append((snap, result))
            else:
                unchanged.append(ScheduleRow(snap.id, snap.updated_at, self._next_poll(snap, now)))
        async with self.session_factory.begin() as session:
            orders = OrderRepository(session)
            for snap, status in changed:
                try:
                    async with session.begin_nested():
                        order = await orders.get_for_update(snap.id)
                        if (
                            order is None
                            or order.state != OrderState.ACTIVE
                            or order.upstream_id != snap.upstream_id
                        ):
                            continue  # settled meanwhile by someone else
                        applied = await apply_order_status(session, order, status, now)
                        if not applied.final:
                            order.next_poll_at = self._next_poll(_Snapshot.of(order), now)
                        await session.flush()
                except Exception as error:  # this order only; its savepoint is rolled back
                    done.errors += 1
                    log.warning(
                        "order %s (upstream %s): status not recorded: %s",
                        snap.id,
                        snap.upstream_id,
                        type(error).__name__,
                    )
                    unchanged.append(
                        ScheduleRow(snap.id, snap.updated_at, self._next_poll(snap, now, failed=True))
                    )
                    unusable.append((snap, f"not recorded: {type(error).__name__}"))
                    continue
                done.changed += applied.changed
                done.finalised += applied.final
                done.refunds += applied.refund > 0
                done.notices += applied.notices
            await session.flush()
            done.rescheduled = await TrackingRepository(session).reschedule(unchanged)
            for snap, reason in unusable:
                done.notices += await self._flag_unusable(session, snap, reason, now)
            for snap, charge in overcharged:
                done.notices += await self._flag_overcharge(session, snap, charge, now)
        self._overcharged.update(snap.id for snap, _ in overcharged)
        report.errors += done.errors
        report.changed += done.changed
        report.finalised += done.finalised
        report.refunds += done.refunds
        report.notices += done.notices
        report.rescheduled += done.rescheduled

    async def _flag_overcharge(
        self, session: AsyncSession, snap: _Snapshot, charge: Decimal, now: datetime
    ) -> int:
        """The margin guard: the panel charged more than the customer paid (a wrong billing rule,
        a price raised upstream). Told at once, once per order; the order itself goes on."""
        order = await session.get(Order, snap.id)
        if order is None:
            return 0
        payload = {
            "order_id": order.id,
            "user_id": order.user_id,
            "service": order.service_name,
            "charge": format(charge.normalize(), "f"),
            "price": format(order.price.normalize(), "f"),
            "currency": order.currency,
        }
        queued = await queue_admin_alert(
            session, self.admin_ids, "overcharge", str(order.id), payload, now, order_id=order.id
        )
        if queued or not self.admin_ids:  # once per process at most (self._overcharged)
            log.warning("order %s: the panel charged %s, the customer paid %s", order.id, charge, order.price)
        return queued

    async def refresh_order(self, order_id: int, now: datetime | None = None) -> bool:
        """The customer's Refresh: ask the panel about this one order now and record the answer.

        At most once per `refresh_every` per order (a customer tapping fast costs one request);
        False when the panel was not asked (not active, too soon, or the panel failed).
        """
        now = now or utcnow()
        last = self._refreshed.get(order_id)
        if last is not None and now - last < self.refresh_every:
            return False
        async with self.session_factory() as session:
            order = await session.get(Order, order_id)
            if order is None or order.state != OrderState.ACTIVE or not order.upstream_id:
                return False
            snap = _Snapshot.of(order)
        if len(self._refreshed) > 10_000:
            self._refreshed.clear()
        self._refreshed[order_id] = now
        try:
            status: OrderStatus | PanelError = await self._ask(self.panel.status(snap.upstream_id))
        except UpstreamUnavailable as error:
            log.info("refresh of order %s: %s", order_id, error.message)
            return False
        except PanelError as error:
            status = error
        await self._write_batch(_Batch([snap], {snap.upstream_id: status}), now, PollReport())
        return True

    async def _flag_unusable(self, session: AsyncSession, snap: _Snapshot, reason: str, now: datetime) -> int:
        """Tell the admins once per order that its status could not be used."""
        if not self.admin_ids:
            return 0
        order = await session.get(Order, snap.id)
        if order is None:
            return 0
        payload = {
            "order_id": order.id,
            "user_id": order.user_id,
            "service": order.service_name,
            "status": order.upstream_status,
            "detail": reason[:300],
        }
        return await queue_admin_alert(
            session, self.admin_ids, "bad_status", str(order.id), payload, now, order_id=order.id
        )

    # --- refills ---------------------------------------------------------------------------------

    async def poll_refills(self, now: datetime | None = None) -> RefillReport:
        """Check open refills until each has an outcome the customer is told once.

        With a refill id: its status in bulk (`refill_status refills=`). Pending/In progress keep it
        open, Completed and Rejected (Canceled, Error, Failed) settle it. An error for the refill
        itself ("Refill not found", "Order not eligible for refill.") counts as a check without
        news; after `refill_error_limit` in a row the refill is settled as rejected with the
        panel's words as the reason. Unknown status spellings read as running.

        Without a refill id (the seed panel's reply has none) the order's own status is watched
        from the next cycle on: In progress/Processing/Pending again → the refill is running; then
        Completed or Partial → completed; Canceled → rejected. An order that keeps showing its old
        final status for `idless_refill_checks` cycles is settled as UNCONFIRMED: the panel took
        the request but shows nothing we can follow. That is what the customer is told, with a
        pointer to support if the count has not come back, rather than a "done" nobody saw; the
        Refill button comes back, and the panel itself refuses a second refill while one runs.

        Any refill still open after `refill_max_open` is settled as UNCONFIRMED too, so nothing
        stays "requested" for ever. The panel being unreachable counts for nothing but that cap.
        """
        now = now or utcnow()
        report = RefillReport()
        async with self.session_factory() as session:
            rows = await TrackingRepository(session).open_refills_with_orders(
                limit=self.max_refills_per_cycle
            )
            snaps = [
                _RefillSnapshot(
                    id=refill.id,
                    state=refill.state,
                    status_raw=refill.status_raw,
                    upstream_refill_id=refill.upstream_refill_id,
                    order_upstream_id=order.upstream_id,
                    created_at=refill.created_at,
                    checks=refill.checks or 0,
                )
                for refill, order in rows
            ]
        by_id = [snap for snap in snaps if snap.upstream_refill_id]
        idless = [snap for snap in snaps if not snap.upstream_refill_id and snap.order_upstream_id]
        verdicts: dict[int, _Verdict | PanelError] = {}
        try:
            for start in range(0, len(by_id), self.batch_size):
                chunk = by_id[start : start + self.batch_size]
                report.upstream_calls += 1
                refill_statuses = await self._ask(
                    self.panel.refill_statuses([s.upstream_refill_id or "" for s in chunk])
                )
                report.asked += len(chunk)
                for snap in chunk:
                    verdicts[snap.id] = self._refill_verdict(
                        snap, refill_statuses.get(snap.upstream_refill_id or "")
                    )
            for start in range(0, len(idless), self.batch_size):
                chunk = idless[start : start + self.batch_size]
                report.upstream_calls += 1
                order_statuses = await self._ask(
                    self.panel.statuses([s.order_upstream_id or "" for s in chunk])
                )
                report.asked += len(chunk)
                for snap in chunk:
                    verdicts[snap.id] = self._idless_verdict(
                        snap, order_statuses.get(snap.order_upstream_id or "")
                    )
        except PanelError as error:
            report.unavailable = error.message
            log.warning("refill poll stopped: %s", error.message)
        for snap in snaps:
            verdict = verdicts.get(snap.id)
            settled = isinstance(verdict, _Verdict) and not RefillState(verdict.state).is_open
            if not settled and now - snap.created_at >= self.refill_max_open:
                raw = verdict.raw if isinstance(verdict, _Verdict) else snap.status_raw or ""
                verdicts[snap.id] = _Verdict(RefillState.UNCONFIRMED, raw, checks=snap.checks)
        if verdicts:
            await self._write_refills(snaps, verdicts, now, report)
        return report

    def _refill_verdict(
        self, snap: _RefillSnapshot, result: RefillStatus | PanelError | None
    ) -> _Verdict | PanelError:
        if isinstance(result, RefillStatus):
            raw = result.status_raw.strip()[:64]
            state = REFILL_STATE_OF[result.state]
            # "Rejected" says nothing more; "Canceled", "Error", "Failed" are the panel's reason.
            reason = raw if state == RefillState.REJECTED and raw.casefold() != "rejected" else None
            return _Verdict(state, raw, reason=reason)
        error = result if isinstance(result, PanelError) else PanelError("missing from the reply")
        return self._refill_error(snap, error, settle_as=RefillState.REJECTED)

    def _idless_verdict(
        self, snap: _RefillSnapshot, result: OrderStatus | PanelError | None
    ) -> _Verdict | PanelError:
        if not isinstance(result, OrderStatus):
            error = result if isinstance(result, PanelError) else PanelError("missing from the reply")
            return self._refill_error(snap, error, settle_as=RefillState.UNCONFIRMED)
        raw = _raw(result)
        if result.status in (StatusGroup.PENDING, StatusGroup.RUNNING):
            return _Verdict(RefillState.RUNNING, raw)
        if result.status == StatusGroup.CANCELED:
            return _Verdict(RefillState.REJECTED, raw, reason=raw)
        if snap.state == RefillState.RUNNING:  # it ran, and the order is finished again
            return _Verdict(RefillState.COMPLETED, raw)
        checks = snap.checks + 1  # still the old final status: nothing to follow yet
        if checks >= self.idless_refill_checks:
            return _Verdict(RefillState.UNCONFIRMED, raw, checks=checks)
        return _Verdict(RefillState(snap.state), raw, checks=checks)

    def _refill_error(
        self, snap: _RefillSnapshot, error: PanelError, *, settle_as: RefillState
    ) -> _Verdict | PanelError:
        """An error about this refill (or its order): counted, and settled after a few in a row.

        The panel being unreachable is not about this refill: nothing is counted.
        """
        if isinstance(error, UpstreamUnavailable):
            return error
        checks = snap.checks + 1
        if checks < self.refill_error_limit:
            return _Verdict(RefillState(snap.state), snap.status_raw or "", checks=checks, error=error)
        return _Verdict(settle_as, snap.status_raw or "", reason=error.message[:300], checks=checks)

    async def _write_refills(
        self,
        snaps: Sequence[_RefillSnapshot],
        verdicts: Mapping[int, _Verdict | PanelError],
        now: datetime,
        report: RefillReport,
    ) -> None:
        untouched: list[int] = []
        async with self.session_factory.begin() as session:
            tracking = TrackingRepository(session)
            for snap in snaps:
                verdict = verdicts.get(snap.id)
                if verdict is None:
                    continue
                if isinstance(verdict, PanelError):
                    report.errors += 1
                    log.warning("refill %s: %s", snap.id, verdict.message)
                    untouched.append(snap.id)
                    continue
                if verdict.error is not None:
                    report.errors += 1
                    log.warning("refill %s: %s (%d in a row)", snap.id, verdict.error.message, verdict.checks)
                if (
                    verdict.state == snap.state
                    and _same_raw(snap.status_raw, verdict.raw)
                    and verdict.checks == snap.checks
                ):
                    untouched.append(snap.id)
                    continue
                refill = await tracking.refill_for_update(snap.id)
                if refill is None or not RefillState(refill.state).is_open:
                    continue
                refill.state = verdict.state
                refill.status_raw = verdict.raw[:64] or refill.status_raw
                refill.checks = verdict.checks
                refill.updated_at = now
                report.changed += 1
                if not RefillState(verdict.state).is_open:
                    refill.reason = verdict.reason
                    refill.finished_at = now
                    report.finished += 1
                    report.notices += await self._queue_refill_notice(session, refill, now)
            if untouched:
                await tracking.touch_refills(untouched, now)

    @staticmethod
    async def _queue_refill_notice(session: AsyncSession, refill: Refill, now: datetime) -> bool:
        """One message per refill and outcome (the outbox's dedupe key), whoever settles it."""
        order = await session.get(Order, refill.order_id)
        if order is None:
            return False
        kind = REFILL_NOTICE_OF[RefillState(refill.state)]
        if not await wants_notice(session, refill.user_id, kind):  # the customer's notice settings
            return False
        return await OutboxRepository(session).add(
            user_id=refill.user_id,
            order_id=order.id,
            kind=kind,
            dedupe_key=f"refill:{refill.id}:{kind}",
            payload=order_payload(
                order, refill_id=refill.id, refill_status=refill.status_raw, refill_reason=refill.reason
            ),
            now=now,
        )


async def run_tracking_cycle(poller: StatusPoller, notifier: Notifier | None = None) -> None:
    """The order job: poll the due orders, then deliver what that queued. Never raises."""
    try:
        await poller.poll_once()
    except Exception:
        log.exception("order status poll failed")
    if notifier is not None:
        await _deliver(notifier)


async def run_refill_cycle(poller: StatusPoller, notifier: Notifier | None = None) -> None:
    """The refill job: check open refills, then deliver what that queued. Never raises."""
    try:
        await poller.poll_refills()
    except Exception:
        log.exception("refill status poll failed")
    if notifier is not None:
        await _deliver(notifier)


async def _deliver(notifier: Notifier) -> None:
    try:
        await notifier.send_pending()
    except Exception:
        log.exception("sending notifications failed")
