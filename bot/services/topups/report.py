"""The owner's payments report: top-ups per method per day, fees, pending and refunded, and the
wallet-vs-ledger reconciliation (every cached balance against the sum of its ledger entries)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import TopUpMethod, TopUpStatus, utcnow
from storage.repositories.topups import (
    ManualMethodRepository,
    TopUpRepository,
    WalletReconciliation,
    wallet_reconciliation,
)

ZERO = Decimal("0")
REPORT_DAYS = 7


@dataclass
class Tally:
    count: int = 0
    amount: Decimal = ZERO
    fees: Decimal = ZERO

    def add(self, amount: Decimal, fee: Decimal | None) -> None:
        self.count += 1
        self.amount += amount
        self.fees += fee or ZERO


@dataclass(frozen=True)
class MethodKey:
    """A method as the report names it: `stars`, `cryptopay`, or `manual` with the method's id."""

    method: str
    manual_id: int | None = None


@dataclass
class PaymentsReport:
    days: list[date]
    per_day: dict[date, dict[MethodKey, Tally]]
    totals: dict[MethodKey, Tally]
    pending: dict[str, tuple[int, Decimal]]
    refunded: dict[str, tuple[int, Decimal]]
    manual_names: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def fees(self) -> Decimal:
        return sum((tally.fees for tally in self.totals.values()), start=ZERO)


class PaymentsReports:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def collect(self, days: int = REPORT_DAYS, now: datetime | None = None) -> PaymentsReport:
        now = now or utcnow()
        first = now.date() - timedelta(days=days - 1)
        since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
        async with self.session_factory() as session:
            repo = TopUpRepository(session)
            rows = await repo.paid_since(since)
            open_ = await repo.totals_by_status([TopUpStatus.PENDING])
            back = await repo.totals_by_status([TopUpStatus.REFUNDED, TopUpStatus.REFUNDING])
            methods = await ManualMethodRepository(session).listed(enabled_only=False)
        per_day: dict[date, dict[MethodKey, Tally]] = defaultdict(lambda: defaultdict(Tally))
        totals: dict[MethodKey, Tally] = defaultdict(Tally)
        for row in rows:
            if row.paid_at is None:
                continue
            key = MethodKey(row.method, row.manual_method_id if row.method == TopUpMethod.MANUAL else None)
            per_day[row.paid_at.date()][key].add(row.amount, row.fee)
            totals[key].add(row.amount, row.fee)
        pending: dict[str, tuple[int, Decimal]] = {}
        for (method, _), value in open_.items():
            pending[method] = value
        refunded: dict[str, tuple[int, Decimal]] = {}
        for (method, _), (count, amount) in back.items():
            previous = refunded.get(method, (0, ZERO))
            refunded[method] = (previous[0] + count, previous[1] + amount)
        return PaymentsReport(
            days=[first + timedelta(days=i) for i in range(days)],
            per_day={day: dict(tallies) for day, tallies in per_day.items()},
            totals=dict(totals),
            pending=pending,
            refunded=refunded,
            manual_names={m.id: dict(m.names or {}) for m in methods},
        )

    async def reconciliation(self) -> WalletReconciliation:
        async with self.session_factory() as session:
            return await wallet_reconciliation(session)
