"""The admins' problem list: findings about orders that only an admin can settle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, OrderProblem


class ProblemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        order_id: int,
        kind: str,
        detail: str,
        dedupe_key: str,
        upstream_id: str | None = None,
        now: datetime,
    ) -> bool:
        """Record a finding unless one with this `dedupe_key` exists; True when a row was added.

        INSERT ... ON CONFLICT DO NOTHING: a concurrent writer of the same finding neither fails nor
        aborts the caller's transaction.
        """
        values = {
            "order_id": order_id,
            "kind": kind,
            "detail": detail[:1000],
            "upstream_id": upstream_id[:64] if upstream_id else None,
            "dedupe_key": dedupe_key[:160],
            "created_at": now,
        }
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert_fn(OrderProblem)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OrderProblem.id)
        )
        result = await self.session.execute(statement)
        return result.scalar_one_or_none() is not None

    async def open_with_orders(self, *, limit: int) -> list[tuple[OrderProblem, Order]]:
        """Unresolved findings with their orders, oldest first."""
        result = await self.session.execute(
            select(OrderProblem, Order)
            .join(Order, Order.id == OrderProblem.order_id)
            .where(OrderProblem.resolved_at.is_(None))
            .order_by(OrderProblem.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in result.all()]

    async def get(self, problem_id: int) -> OrderProblem | None:
        return await self.session.get(OrderProblem, problem_id)

    async def resolve(self, problem_id: int, *, admin_id: int | None, resolution: str, now: datetime) -> bool:
        """Mark one finding resolved (compare-and-set: False when it was resolved already)."""
        result = await self.session.execute(
            update(OrderProblem)
            .where(OrderProblem.id == problem_id, OrderProblem.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=admin_id, resolution=resolution[:32])
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def resolve_for_order(
        self, order_id: int, *, admin_id: int | None, resolution: str, now: datetime
    ) -> int:
        """Settling an order settles every open finding about it."""
        result = await self.session.execute(
            update(OrderProblem)
            .where(OrderProblem.order_id == order_id, OrderProblem.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=admin_id, resolution=resolution[:32])
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
