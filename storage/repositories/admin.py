"""Queries of the admin console: the audit log, shop statistics, the catalog as the owner sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AdminAudit, Category, Order, OrderState, Service
from storage.types import to_money


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, admin_id: int, action: str, args: dict[str, Any], now: datetime) -> AdminAudit:
        row = AdminAudit(admin_id=admin_id, action=action[:64], args=args, created_at=now)
        self.session.add(row)
        await self.session.flush()
        return row

    async def recent(self, *, limit: int = 20, action: str | None = None) -> list[AdminAudit]:
        query = select(AdminAudit).order_by(AdminAudit.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AdminAudit.action == action)
        return list((await self.session.execute(query)).scalars())


@dataclass(frozen=True)
class OrderFacts:
    """What the statistics need of one order (money columns exact, upstream charge when known)."""

    created_at: datetime
    state: str
    service_id: str
    service_name: str
    price: Decimal
    refunded: Decimal
    cost: Decimal
    upstream_charge: Decimal | None


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def orders_since(self, since: datetime) -> list[OrderFacts]:
        """Charged orders (all but REFUSED) created since `since`."""
        result = await self.session.execute(
            select(
                Order.created_at,
                Order.state,
                Order.service_id,
                Order.service_name,
                Order.price,
                Order.refunded,
                Order.cost,
                Order.upstream_charge,
            ).where(Order.created_at >= since, Order.state != OrderState.REFUSED.value)
        )
        return [OrderFacts(*row) for row in result.all()]

    async def orders_by_state(self) -> dict[str, int]:
        result = await self.session.execute(select(Order.state, func.count()).group_by(Order.state))
        return {str(state): int(count) for state, count in result.all()}

    async def totals(self) -> tuple[int, Decimal]:
        """All-time count of charged orders and what customers paid for them (net of refunds)."""
        result = await self.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Order.price), 0),
                func.coalesce(func.sum(Order.refunded), 0),
            ).where(Order.state != OrderState.REFUSED.value)
        )
        count, paid, refunded = result.one()
        return int(count), to_money(Decimal(paid)) - to_money(Decimal(refunded))


class AdminCatalogRepository:
    """The catalog including what customers do not see (hidden services and categories)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def categories_page(
        self, *, offset: int, limit: int
    ) -> tuple[list[tuple[Category, int, int]], int]:
        """Categories that exist upstream, with (services, hidden services), in the panel's order."""
        counted = (
            select(
                Category,
                func.count(Service.service_id).label("n"),
                func.sum(case((Service.hidden.is_(True), 1), else_=0)).label("h"),
            )
            .join(Service, Service.category_id == Category.id)
            .where(Category.available.is_(True), Service.available.is_(True))
            .group_by(Category.id)
        )
        total = (
            await self.session.execute(select(func.count()).select_from(counted.subquery()))
        ).scalar_one()
        rows = await self.session.execute(
            counted.order_by(Category.position, Category.id).offset(offset).limit(limit)
        )
        return [(row[0], int(row[1]), int(row[2] or 0)) for row in rows], int(total)

    async def services_page(self, category_id: int, *, offset: int, limit: int) -> tuple[list[Service], int]:
        where = (Service.category_id == category_id, Service.available.is_(True))
        total = (
            await self.session.execute(select(func.count()).select_from(Service).where(*where))
        ).scalar_one()
        rows = await self.session.execute(
            select(Service).where(*where).order_by(Service.position).offset(offset).limit(limit)
        )
        return list(rows.scalars()), int(total)
