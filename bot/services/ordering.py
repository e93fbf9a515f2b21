"""Placing orders exactly once, and the customer's actions on them (view, refill, cancel).

Placing is three steps, never holding a database session across the panel call:
1. one transaction records the order (state PLACING, unique `draft_key`) and takes its charge;
2. the panel's `add` is called once, never retried (the API has no idempotency key);
3. one transaction records the outcome, only over an order still PLACING (compare-and-set):
   ACTIVE with the upstream id; REFUSED with an immediate refund for a clean refusal; UNKNOWN (no
   refund, no retry) when the outcome cannot be known, for the admins to reconcile. An answer for
   an order settled meanwhile (an admin refunded it) is never applied: it goes to the admins'
   problem list, as does any exception in this step.
A placer that dies between 1 and 3 leaves the order PLACING: `sweep_placing` (a periodic job of
the leader, bot/app.py) turns it into UNKNOWN after `PLACING_GRACE_SECONDS` and the admins are told.
A second confirm of the same form finds the order by its `draft_key` instead of placing another.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import AddOrder, AddOutcomeUnknown, PanelClient, PanelError, UpstreamUnavailable
from bot.panel.capabilities import PanelCapabilities
from bot.panel.errors import AddAcceptedWithError
from bot.services.catalog import Page, ServiceView, clamp_page
from bot.services.forms import OrderRequest, ServiceRules, build_request, check_complete
from bot.services.panel_guard import PanelGuard, SellingPaused
from bot.services.pricing import Quote, quote
from bot.services.refunds import refund_order
from storage.models import LedgerKind, Order, OrderState, ProblemKind, Refill, RefillState, utcnow
from storage.repositories.ledger import InsufficientFunds, LedgerRepository
from storage.repositories.orders import OrderRepository, RefillRepository
from storage.repositories.problems import ProblemRepository

log = logging.getLogger(__name__)

FIRST_POLL_DELAY = timedelta(0)  # the next cycle asks; the poller spaces out older orders
PLACING_GRACE = timedelta(minutes=2)


class InsufficientBalance(Exception):
    def __init__(self, balance: Decimal, price: Decimal) -> None:
        super().__init__("insufficient balance")
        self.balance = balance
        self.price = price

    @property
    def shortfall(self) -> Decimal:
        return self.price - self.balance


class PriceChanged(Exception):
    """The service's price changed after the summary was shown; show the new one first."""

    def __init__(self, new_quote: Quote) -> None:
        super().__init__("price changed")
        self.quote = new_quote


class Outcome(StrEnum):
    PLACED = "placed"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    ALREADY = "already"  # this form was confirmed before; nothing new happened


@dataclass(frozen=True)
class Placement:
    outcome: Outcome
    order: Order
    error: PanelError | None = None


class ActionOutcome(StrEnum):
    ACCEPTED = "accepted"
    NOT_ALLOWED = "not_allowed"
    IN_PROGRESS = "in_progress"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"  # the panel offers no refill/cancel (any more): not asked at all


@dataclass(frozen=True)
class ActionResult:
    outcome: ActionOutcome
    order: Order | None = None
    message: str | None = None  # the panel's own words, when it refused


def rules_of(view: ServiceView) -> ServiceRules:
    return ServiceRules(
        service_id=view.service_id,
        type_key=view.type_key,
        min_quantity=view.min_quantity,
        max_quantity=view.max_quantity,
        dripfeed=view.dripfeed,
        platform=view.platform,
    )


def can_refill(order: Order, panel: PanelCapabilities | None = None) -> bool:
    """The order's service had refill and the order ended; with `panel`, also that the panel (as
    far as its catalog tells) still offers refills at all: a card never offers what it cannot do."""
    offered = panel is None or panel.refill is not False
    return order.can_refill and offered and order.state in (OrderState.COMPLETED, OrderState.PARTIAL)


def refill_is_open(refill: Refill) -> bool:
    """Requested or running: no outcome yet, so no second request."""
    return RefillState(refill.state).is_open


def can_cancel(order: Order, panel: PanelCapabilities | None = None) -> bool:
    """The order's service had cancel and the order runs; with `panel`, also that the panel still
    offers cancelling at all."""
    offered = panel is None or panel.cancel is not False
    return (
        order.can_cancel
        and offered
        and order.state == OrderState.ACTIVE
        and order.cancel_requested_at is None
    )


def cancel_refusal_key(order: Order, panel: PanelCapabilities | None = None) -> str:
    """Why a cancel cannot be sent (the locale key): asked already, the order ended, the panel offers
    no cancelling, or never allowed."""
    if order.cancel_requested_at is not None and order.state == OrderState.ACTIVE:
        return "cancel_order.in_progress"
    if order.state in (OrderState.COMPLETED, OrderState.PARTIAL, OrderState.CANCELED, OrderState.REFUSED):
        return "cancel_order.already_final"
    if can_cancel(order) and not can_cancel(order, panel):
        return "cancel_order.unsupported"
    return "cancel_order.not_allowed"


class OrderService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        *,
        wallet_enabled: bool = True,
        currency: str = "USD",
        guard: PanelGuard | None = None,
        placing_grace: timedelta = PLACING_GRACE,
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.wallet_enabled = wallet_enabled
        self.currency = currency
        self.guard = guard
        self.placing_grace = placing_grace
        # The placer's own limit on `add`: half the grace, so it settles before any sweep may.
        self.add_deadline = max(placing_grace.total_seconds() / 2, 0.5)

    @property
    def capabilities(self) -> PanelCapabilities:
        """What the panel is known to support (refill, cancel), for the order card's buttons."""
        return self.panel.capabilities

    # --- quoting and placing -----------------------------------------------------------------

    def prepare(self, view: ServiceView, values: dict[str, object]) -> tuple[OrderRequest, Quote]:
        """Turn a finished form into the upstream request and its price (raises FieldError)."""
        rules = rules_of(view)
        check_complete(rules, values)
        request = build_request(rules, values)
        # The view's flag (PANEL_FLAT_RATE_TYPES, set by CatalogService) is what the card said.
        per_line_package = view.type_key == "custom comments package" and not view.flat_rate
        price = quote(
            rate=view.rate,
            type_key=view.type_key,
            markup_percent=view.markup_percent,
            quantity=request.quantity,
            runs=request.runs,
            lines=request.comment_lines if per_line_package else request.lines,
            flat=view.flat_rate,
        )
        return request, price

    async def balance(self, user_id: int) -> Decimal | None:
        """The wallet balance the summary compares the price with; None when the shop has no wallet
        (pay-per-order: nothing is charged from a balance)."""
        if not self.wallet_enabled:
            return None
        async with self.session_factory() as session:
            return await LedgerRepository(session).balance(user_id)

    async def find_by_draft(self, user_id: int, draft_key: str) -> Order | None:
        async with self.session_factory() as session:
            order = await OrderRepository(session).by_draft_key(draft_key)
        return order if order is not None and order.user_id == user_id else None

    async def place(
        self,
        *,
        user_id: int,
        draft_key: str,
        view: ServiceView,
        values: dict[str, object],
        expected_price: Decimal | None = None,
    ) -> Placement:
        if self.guard is not None and self.guard.selling_paused:
            raise SellingPaused(self.guard.pause_reason)
        request, price = self.prepare(view, values)
        if expected_price is not None and price.price != expected_price:
            raise PriceChanged(price)
        charge = price.price if self.wallet_enabled else Decimal("0")

        # Step 1: record and charge in one transaction. A form confirmed before fails the insert
        # on its unique draft key (no lookup first: a second confirm is rare, a lookup is not).
        try:
            async with self.session_factory.begin() as session:
                order = await OrderRepository(session).add_new(
                    Order(
                        user_id=user_id,
                        draft_key=draft_key,
                        service_id=view.service_id,
                        service_name=view.name,
                        service_type=view.type_key,
                        link=request.link,
                        quantity=request.total_quantity,
                        params=dict(request.params),
                        price=charge,
                        cost=price.cost,
                        currency=self.currency,
                        can_refill=view.refill,
                        can_cancel=view.cancel,
                        state=OrderState.PLACING,
                    )
                )
                if charge > 0:
                    await LedgerRepository(session).apply(
                        user_id=user_id,
                        amount=-charge,
                        kind=LedgerKind.ORDER_CHARGE,
                        key=f"order:{order.id}:charge",
                        order_id=order.id,
                        note=f"#{order.id} {view.name}"[:200],
                        new_key=True,  # the order was created just now
                    )
        except InsufficientFunds as error:
            raise InsufficientBalance(error.balance, charge) from None
        except IntegrityError:
            # The same form confirmed before or concurrently: that confirm's order stands.
            existing = await self.find_by_draft(user_id, draft_key)
            if existing is None:
                raise
            return Placement(Outcome.ALREADY, existing)

        # Step 2: one upstream call, no retries, under a deadline well inside the placing grace,
        # so the sweep (`sweep_placing`) never takes an order a live placer is still waiting for.
        add = AddOrder(service_id=view.service_id, **request.params)
        upstream_id: str | None = None
        failure: PanelError | None = None
        try:
            upstream_id = await asyncio.wait_for(self.panel.add(add), self.add_deadline)
        except TimeoutError:
            failure = AddOutcomeUnknown(f"no answer within {self.add_deadline:g}s")
        except AddAcceptedWithError as error:
            upstream_id, failure = error.upstream_id, error
        except PanelError as error:
            # A clean refusal, an unknown outcome (AddOutcomeUnknown), or a fault that certainly
            # kept the order from the panel (connection refused, 429).
            failure = error

        # Step 3: record the outcome, only over an order still waiting for it (compare-and-set).
        try:
            return await self._record_outcome(order, upstream_id, failure)
        except Exception as error:  # any failure here lands where the admins look
            log.exception("order %s: recording the outcome of add failed", order.id)
            return await self._record_failure(order, upstream_id, failure, error)

    async def _record_outcome(
        self, order: Order, upstream_id: str | None, failure: PanelError | None
    ) -> Placement:
        now = utcnow()
        async with self.session_factory.begin() as session:
            orders = OrderRepository(session)
            if upstream_id is not None:
                placed: dict[str, Any] = {
                    "state": OrderState.ACTIVE,
                    "upstream_id": upstream_id,
                    "upstream_status": "Pending",
                    "placed_at": now,
                    "status_changed_at": now,
                    "next_poll_at": now + FIRST_POLL_DELAY,
                }
                if await orders.settle_placing(order, **placed):
                    stored = order
                elif await orders.compare_and_set(order.id, [OrderState.UNKNOWN], **placed, error=None):
                    # The sweep gave up on us meanwhile, but nobody decided yet: the answer settles it.
                    stored = await self._locked(orders, order.id)
                    log.info(
                        "order %s: the late answer %s settles its unknown outcome", order.id, upstream_id
                    )
                else:
                    stored = await self._locked(orders, order.id)
                    await self._late_answer(session, stored, now, upstream_id, upstream_id)
                    return Placement(Outcome.UNKNOWN, stored, failure)
                if isinstance(failure, AddAcceptedWithError):
                    await ProblemRepository(session).add(
                        order_id=stored.id,
                        kind=ProblemKind.ADD_WITH_ERROR,
                        detail=failure.message,
                        upstream_id=upstream_id,
                        dedupe_key=f"order:{stored.id}:{ProblemKind.ADD_WITH_ERROR}",
                        now=now,
                    )
                    log.warning("order %s: add answered id %s with an error too", stored.id, upstream_id)
                log.info("order %s placed upstream as %s", stored.id, upstream_id)
                return Placement(Outcome.PLACED, stored)
            assert failure is not None
            if isinstance(failure, AddOutcomeUnknown):
                await orders.compare_and_set(
                    order.id, [OrderState.PLACING], state=OrderState.UNKNOWN, error=failure.message[:500]
                )
                stored = await self._locked(orders, order.id)
                log.warning(
                    "order %s: add outcome unknown (%s); left for the admins", stored.id, failure.message
                )
                return Placement(Outcome.UNKNOWN, stored, failure)
            stored = await self._locked(orders, order.id)
            if stored.state in (OrderState.PLACING, OrderState.UNKNOWN):
                # A clean refusal: nothing runs upstream, so the charge goes back (once).
                await refund_order(session, stored, stored.price - stored.refunded, note="refused upstream")
                await orders.update_fields(
                    stored, state=OrderState.REFUSED, error=failure.message[:500], finished_at=now
                )
                log.info("order %s refused upstream: %s", stored.id, failure.message)
                return Placement(Outcome.REFUSED, stored, failure)
            if stored.state != OrderState.REFUSED:  # an admin attached an id meanwhile
                await self._late_answer(session, stored, now, None, failure.message)
            return Placement(Outcome.UNKNOWN, stored, failure)

    @staticmethod
    async def _locked(orders: OrderRepository, order_id: int) -> Order:
        stored = await orders.get_for_update(order_id)
        assert stored is not None
        return stored

    @staticmethod
    async def _late_answer(
        session: AsyncSession, order: Order, now: datetime, upstream_id: str | None, what: str
    ) -> None:
        """The panel's answer (an id, or a refusal's words) came after the order was settled: never
        applied, listed for the admins."""
        await ProblemRepository(session).add(
            order_id=order.id,
            kind=ProblemKind.LATE_ANSWER,
            detail=what,
            upstream_id=upstream_id,
            dedupe_key=f"order:{order.id}:{ProblemKind.LATE_ANSWER}",
            now=now,
        )
        log.warning("order %s: late answer of the panel (%s); listed for the admins", order.id, what)

    async def _record_failure(
        self, order: Order, upstream_id: str | None, failure: PanelError | None, error: Exception
    ) -> Placement:
        """Step 3 raised: the order becomes UNKNOWN with what the panel said, for the admins."""
        what = upstream_id or (failure.message if failure is not None else "-")
        detail = f"{type(error).__name__}: {what}"
        unknown = AddOutcomeUnknown(detail)
        now = utcnow()
        try:
            async with self.session_factory.begin() as session:
                orders = OrderRepository(session)
                await orders.compare_and_set(
                    order.id, [OrderState.PLACING], state=OrderState.UNKNOWN, error=detail[:500]
                )
                await ProblemRepository(session).add(
                    order_id=order.id,
                    kind=ProblemKind.RECORD_FAILED,
                    detail=detail,
                    upstream_id=upstream_id,
                    dedupe_key=f"order:{order.id}:{ProblemKind.RECORD_FAILED}",
                    now=now,
                )
                stored = await self._locked(orders, order.id)
            return Placement(Outcome.UNKNOWN, stored, unknown)
        except Exception:
            # The database is gone: the order stays PLACING and the sweep surfaces it later;
            # the log keeps the panel's answer for the admins.
            log.exception("order %s: could not record an unknown outcome either (%s)", order.id, what)
            return Placement(Outcome.UNKNOWN, order, unknown)

    async def sweep_placing(
        self, *, grace: timedelta | None = None, now: datetime | None = None
    ) -> list[int]:
        """PLACING orders older than the grace become UNKNOWN: their placer died (or hangs).

        A live placer gives up on `add` after `add_deadline` (half the grace) and records its
        outcome itself, so an order being placed right now is never taken. Never sends `add`.
        """
        now = now or utcnow()
        grace = self.placing_grace if grace is None else grace
        async with self.session_factory.begin() as session:
            changed = await OrderRepository(session).mark_placing_unknown(
                now - grace, error="no outcome recorded in time (the placing process stopped)", now=now
            )
        if changed:
            log.warning(
                "%d orders were left placing (ids %s); their outcome is unknown, admins are told",
                len(changed),
                ", ".join(str(i) for i in changed[:20]),
            )
        return changed

    async def recover_interrupted(self, *, only_process: bool = False) -> int:
        """At start-up: orders a crash left in PLACING may or may not exist upstream -> UNKNOWN.

        `only_process` (SQLite: one process owns the database) settles every PLACING order at once,
        since nobody else can be placing it; otherwise only those older than the grace.
        """
        changed = await self.sweep_placing(grace=timedelta(0) if only_process else None)
        return len(changed)

    # --- the customer's view -----------------------------------------------------------------

    async def get_for_user(self, user_id: int, order_id: int) -> Order | None:
        async with self.session_factory() as session:
            return await OrderRepository(session).get_for_user(order_id, user_id)

    async def latest_refill(self, order_id: int) -> Refill | None:
        async with self.session_factory() as session:
            return await RefillRepository(session).latest_for_order(order_id)

    async def list_for_user(self, user_id: int, page: int, per_page: int) -> Page[Order]:
        async with self.session_factory() as session:
            repo = OrderRepository(session)
            total = await repo.count_for_user(user_id)
            page, pages = clamp_page(page, total, per_page)
            items = await repo.list_for_user(user_id, limit=per_page, offset=page * per_page)
        return Page(items, page, pages, total)

    async def request_refill(self, user_id: int, order_id: int) -> ActionResult:
        async with self.session_factory() as session:
            order = await OrderRepository(session).get_for_user(order_id, user_id)
            if order is None or not can_refill(order) or order.upstream_id is None:
                return ActionResult(ActionOutcome.NOT_ALLOWED, order)
            if not can_refill(order, self.capabilities):  # an old card's button: not sent to the panel
                return ActionResult(ActionOutcome.UNSUPPORTED, order)
            if await RefillRepository(session).open_for_order(order.id) is not None:
                return ActionResult(ActionOutcome.IN_PROGRESS, order)
            upstream_id = order.upstream_id
        try:
            refill_id = await self.panel.refill(upstream_id)
        except UpstreamUnavailable:
            return ActionResult(ActionOutcome.UNAVAILABLE, order)
        except PanelError as error:
            return ActionResult(ActionOutcome.REFUSED, order, error.message)
        async with self.session_factory.begin() as session:
            await RefillRepository(session).add(
                Refill(
                    order_id=order.id,
                    user_id=user_id,
                    upstream_refill_id=refill_id or None,
                    state=RefillState.REQUESTED,
                )
            )
        return ActionResult(ActionOutcome.ACCEPTED, order)

    async def request_cancel(self, user_id: int, order_id: int) -> ActionResult:
        """Ask the panel to cancel; nothing changes here until the panel reports Canceled."""
        async with self.session_factory() as session:
            order = await OrderRepository(session).get_for_user(order_id, user_id)
            if order is None or order.upstream_id is None:
                return ActionResult(ActionOutcome.NOT_ALLOWED, order)
            if order.cancel_requested_at is not None and order.state == OrderState.ACTIVE:
                return ActionResult(ActionOutcome.IN_PROGRESS, order)
            if not can_cancel(order):
                return ActionResult(ActionOutcome.NOT_ALLOWED, order)
            if not can_cancel(order, self.capabilities):  # an old card's button: not sent to the panel
                return ActionResult(ActionOutcome.UNSUPPORTED, order)
            upstream_id = order.upstream_id
        try:
            await self.panel.cancel_one(upstream_id)
        except UpstreamUnavailable:
            return ActionResult(ActionOutcome.UNAVAILABLE, order)
        except PanelError as error:
            return ActionResult(ActionOutcome.REFUSED, order, error.message)
        async with self.session_factory.begin() as session:
            orders = OrderRepository(session)
            stored = await orders.get(order.id)
            if stored is not None:
                await orders.update_fields(stored, cancel_requested_at=utcnow(), next_poll_at=utcnow())
                order = stored
        return ActionResult(ActionOutcome.ACCEPTED, order)


def today_utc() -> date:
    return utcnow().date()
