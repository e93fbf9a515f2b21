"""Orders: creation, lookups for the customer and the admins, state changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Order, OrderState, Refill, RefillState, utcnow
from storage.repositories.rows import insert_new

ACTIVE_STATES = (OrderState.ACTIVE,)
_ORDERS = cast(Table, Order.__table__)  # table-level UPDATE: no ORM bulk-update machinery
# Prepared once; the columns to set come with the parameters.
_SETTLE = update(_ORDERS).where(
    _ORDERS.c.id == bindparam("settle_id"), _ORDERS.c.state == OrderState.PLACING.value
)


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, order: Order) -> Order:
        self.session.add(order)
        await self.session.flush()
        return order

    async def add_new(self, order: Order) -> Order:
        """Insert a new order with one prepared statement (storage/repositories/rows.py); returns it
        loaded and detached. A taken `draft_key` raises IntegrityError here, as `add` does."""
        return await insert_new(self.session, order)

    async def get(self, order_id: int) -> Order | None:
        return await self.session.get(Order, order_id)

    async def get_for_update(self, order_id: int) -> Order | None:
        result = await self.session.execute(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalars().first()

    async def get_for_user(self, order_id: int, user_id: int) -> Order | None:
        """The order only if it belongs to this user (buttons can be forged)."""
        result = await self.session.execute(
            select(Order).where(Order.id == order_id, Order.user_id == user_id)
        )
        return result.scalars().first()

    async def by_draft_key(self, draft_key: str) -> Order | None:
        result = await self.session.execute(select(Order).where(Order.draft_key == draft_key))
        return result.scalars().first()

    async def by_upstream_id(self, upstream_id: str) -> Order | None:
        result = await self.session.execute(select(Order).where(Order.upstream_id == upstream_id))
        return result.scalars().first()

    async def list_for_user(self, user_id: int, *, limit: int, offset: int = 0) -> list[Order]:
        result = await self.session.execute(
            select(Order)
            .where(Order.user_id == user_id)
            .order_by(Order.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(result.scalars())

    async def count_for_user(self, user_id: int) -> int:
        result = await self.session.execute(select(func.count()).where(Order.user_id == user_id))
        return int(result.scalar_one())

    async def in_states(self, states: Sequence[str], *, limit: int = 100, offset: int = 0) -> list[Order]:
        result = await self.session.execute(
            select(Order).where(Order.state.in_(list(states))).order_by(Order.id).limit(limit).offset(offset)
        )
        return list(result.scalars())

    async def due_for_poll(self, now: datetime, *, limit: int) -> list[Order]:
        """Placed, unfinished orders whose next check is due, oldest due first."""
        result = await self.session.execute(
            select(Order)
            .where(
                Order.state == OrderState.ACTIVE,
                Order.upstream_id.is_not(None),
                (Order.next_poll_at.is_(None)) | (Order.next_poll_at <= now),
            )
            .order_by(Order.next_poll_at.asc().nulls_first(), Order.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def stale_placing(self, older_than: datetime) -> list[Order]:
        """Orders left in PLACING by a crash: their `add` may or may not have reached the panel."""
        result = await self.session.execute(
            select(Order).where(Order.state == OrderState.PLACING, Order.created_at < older_than)
        )
        return list(result.scalars())

    async def settle_placing(self, order: Order, **values: Any) -> bool:
        """Record a placement's outcome on an order still PLACING: one UPDATE, no read first.

        `order` is the object the placing transaction wrote (detached, fully loaded); on success it
        carries the new values too. False, and nothing changed, when the order is no longer
        PLACING: someone settled it meanwhile (e.g. start-up recovery on another instance).
        """
        values["updated_at"] = utcnow()
        connection = await self.session.connection()
        result = await connection.execute(_SETTLE, {**values, "settle_id": order.id})
        if result.rowcount != 1:
            return False
        for name, value in values.items():
            set_committed_value(order, name, value)
        return True

    async def mark_placing_unknown(self, older_than: datetime, *, error: str, now: datetime) -> list[int]:
        """PLACING orders created before `older_than` become UNKNOWN (compare-and-set per row).

        Returns the ids that changed; an order its placer settled meanwhile is not touched.
        """
        result = await self.session.execute(
            select(Order.id).where(Order.state == OrderState.PLACING, Order.created_at < older_than)
        )
        changed: list[int] = []
        for order_id in list(result.scalars()):
            done = await self.session.execute(
                update(Order)
                .where(Order.id == order_id, Order.state == OrderState.PLACING)
                .values(state=OrderState.UNKNOWN, error=error[:500], updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0):
                changed.append(order_id)
        return changed

    async def compare_and_set(self, order_id: int, expected: Sequence[str], **values: Any) -> bool:
        """Change an order only while it is in one of the `expected` states; True when it changed."""
        values["updated_at"] = utcnow()
        result = await self.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.state.in_([str(state) for state in expected]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def update_fields(self, order: Order, **values: Any) -> Order:
        for name, value in values.items():
            setattr(order, name, value)
        order.updated_at = utcnow()
        await self.session.flush()
        return order


class RefillRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, refill: Refill) -> Refill:
        self.session.add(refill)
        await self.session.flush()
        return refill

    async def open_for_order(self, order_id: int) -> Refill | None:
        result = await self.session.execute(
            select(Refill).where(
                Refill.order_id == order_id, Refill.state.in_([RefillState.REQUESTED, RefillState.RUNNING])
            )
        )
        return result.scalars().first()

    async def latest_for_order(self, order_id: int) -> Refill | None:
        result = await self.session.execute(
            select(Refill).where(Refill.order_id == order_id).order_by(Refill.id.desc()).limit(1)
        )
        return result.scalars().first()

    async def open_refills(self, *, limit: int) -> list[Refill]:
        result = await self.session.execute(
            select(Refill)
            .where(Refill.state.in_([RefillState.REQUESTED, RefillState.RUNNING]))
            .order_by(Refill.updated_at)
            .limit(limit)
        )
        return list(result.scalars())
