"""Order and refill queries of the tracking services (bulk reschedule, stuck orders, open refills)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, OrderState, Refill, RefillState
from storage.repositories.outbox import ScheduleRow


class TrackingRepository:
    """Order and refill queries only the tracking services use (kept apart from OrderRepository)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def reschedule(self, rows: Sequence[ScheduleRow]) -> int:
        """Move `next_poll_at` of unchanged orders in one executemany, leaving `updated_at` alone.

        A row is skipped when the order changed since it was read (another writer, e.g. a cancel
        request that asked for an early check) or is no longer active: it stays due and is looked
        at again next cycle.
        """
        if not rows:
            return 0
        table = cast(Table, Order.__table__)
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("b_id"),
                table.c.updated_at == bindparam("b_seen"),
                table.c.state == OrderState.ACTIVE.value,
            )
            .values(next_poll_at=bindparam("b_next"), updated_at=table.c.updated_at)
        )
        params = [
            {"b_id": row.order_id, "b_seen": row.seen_updated_at, "b_next": row.next_poll_at} for row in rows
        ]
        await self.session.execute(statement, params)
        return len(rows)

    async def stuck(self, changed_before: datetime, *, limit: int) -> list[Order]:
        """Active orders without any observed progress since `changed_before`, longest silent first."""
        last_change = func.coalesce(Order.status_changed_at, Order.placed_at, Order.created_at)
        result = await self.session.execute(
            select(Order)
            .where(Order.state == OrderState.ACTIVE, last_change < changed_before)
            .order_by(last_change, Order.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def open_refills_with_orders(self, *, limit: int) -> list[tuple[Refill, Order]]:
        """Unfinished refills with their orders, least recently looked at first."""
        result = await self.session.execute(
            select(Refill, Order)
            .join(Order, Order.id == Refill.order_id)
            .where(Refill.state.in_([RefillState.REQUESTED, RefillState.RUNNING]))
            .order_by(Refill.updated_at, Refill.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in result.all()]

    async def refill_for_update(self, refill_id: int) -> Refill | None:
        result = await self.session.execute(
            select(Refill)
            .where(Refill.id == refill_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalars().first()

    async def touch_refills(self, refill_ids: Sequence[int], now: datetime) -> None:
        """Checked without news: to the back of the queue (`open_refills` orders by updated_at)."""
        await self.session.execute(
            update(Refill)
            .where(Refill.id.in_(list(refill_ids)))
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
