"""Shop statistics for the admins: users, orders, revenue, profit, top services, open problems.

Revenue is what customers paid net of refunds. Profit is revenue minus what the panel charges us:
the charge the panel reported when known (order.upstream_charge), else our expected cost
(order.cost) — nothing for a cancelled order, the delivered share for a partial one.
Periods are rolling: today (since 00:00 UTC), the last 7 days, the last 30 days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.reconcile import ReconcileService
from storage.models import OrderState, utcnow
from storage.repositories.admin import OrderFacts, StatsRepository
from storage.repositories.users import UserRepository

PERIODS = ("today", "week", "month")
ZERO = Decimal("0")
PROBLEM_LIMIT = 100
TOP_SERVICES = 5


def upstream_cost(order: OrderFacts) -> Decimal:
    if order.upstream_charge is not None:
        return order.upstream_charge
    if order.state == OrderState.CANCELED:
        return ZERO
    if order.state == OrderState.PARTIAL and order.price > 0:
        return order.cost * (order.price - order.refunded) / order.price
    return order.cost


@dataclass
class PeriodStats:
    orders: int = 0
    revenue: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def profit(self) -> Decimal:
        return self.revenue - self.cost

    def add(self, order: OrderFacts) -> None:
        self.orders += 1
        self.revenue += order.price - order.refunded
        self.cost += upstream_cost(order)


@dataclass(frozen=True)
class TopService:
    service_id: str
    name: str
    orders: int
    revenue: Decimal


@dataclass(frozen=True)
class UserStats:
    total: int
    new: dict[str, int]
    active: dict[str, int]


@dataclass(frozen=True)
class ShopStats:
    users: UserStats
    periods: dict[str, PeriodStats]
    all_time_orders: int
    all_time_revenue: Decimal
    by_state: dict[str, int]
    top: list[TopService]
    unknown: int
    stuck: int
    problem_limit: int = PROBLEM_LIMIT


@dataclass(frozen=True)
class DayPoint:
    day: date
    orders: int
    revenue: Decimal


@dataclass
class _Top:
    name: str = ""
    orders: int = 0
    revenue: Decimal = field(default=ZERO)


def period_starts(now: datetime) -> dict[str, datetime]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"today": midnight, "week": now - timedelta(days=7), "month": now - timedelta(days=30)}


class StatsService:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], reconcile: ReconcileService
    ) -> None:
        self.session_factory = session_factory
        self.reconcile = reconcile

    async def collect(self, now: datetime | None = None) -> ShopStats:
        now = now or utcnow()
        starts = period_starts(now)
        async with self.session_factory() as session:
            users = UserRepository(session)
            total = await users.count()
            new = {name: await users.count(since=since) for name, since in starts.items()}
            active = {name: await users.count(active_since=since) for name, since in starts.items()}
            stats = StatsRepository(session)
            facts = await stats.orders_since(min(starts.values()))
            by_state = await stats.orders_by_state()
            all_orders, all_revenue = await stats.totals()
        periods = {name: PeriodStats() for name in PERIODS}
        top: dict[str, _Top] = defaultdict(_Top)
        for order in facts:
            for name, since in starts.items():
                if order.created_at >= since:
                    periods[name].add(order)
            entry = top[order.service_id]
            entry.name = entry.name or order.service_name
            entry.orders += 1
            entry.revenue += order.price - order.refunded
        ranked = sorted(top.items(), key=lambda item: (-item[1].orders, -item[1].revenue, item[0]))
        unknown = await self.reconcile.list_unknown(limit=PROBLEM_LIMIT)
        stuck = await self.reconcile.stuck_orders(now=now, limit=PROBLEM_LIMIT)
        return ShopStats(
            users=UserStats(total, new, active),
            periods=periods,
            all_time_orders=all_orders,
            all_time_revenue=all_revenue,
            by_state=by_state,
            top=[TopService(sid, t.name, t.orders, t.revenue) for sid, t in ranked[:TOP_SERVICES]],
            unknown=len(unknown),
            stuck=len(stuck),
        )

    async def daily(self, days: int = 30, now: datetime | None = None) -> list[DayPoint]:
        """Orders and revenue per UTC day, oldest first, today last; days without orders are zero."""
        now = now or utcnow()
        today = now.date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
        async with self.session_factory() as session:
            facts = await StatsRepository(session).orders_since(since)
        orders: dict[date, int] = defaultdict(int)
        revenue: dict[date, Decimal] = defaultdict(lambda: ZERO)
        for order in facts:
            day = order.created_at.date()
            orders[day] += 1
            revenue[day] += order.price - order.refunded
        return [
            DayPoint(
                first + timedelta(days=i),
                orders[first + timedelta(days=i)],
                revenue[first + timedelta(days=i)],
            )
            for i in range(days)
        ]
