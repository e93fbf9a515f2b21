"""Top-ups and the owner's manual payment methods; plus the wallet-vs-ledger reconciliation.

A top-up changes state only through `move` (a compare-and-set: `UPDATE … WHERE status IN (…)`), in
the transaction of the ledger entry that goes with it, so two settlers (a webhook and a poll, two
admins, two instances) never both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import LedgerEntry, ManualPaymentMethod, TopUp, TopUpMethod, TopUpStatus, User, utcnow
from storage.repositories.rows import insert_new
from storage.types import to_money


@dataclass(frozen=True)
class WalletReconciliation:
    """Cached balances against the ledger: equal everywhere when nothing went wrong."""

    users: int
    balances: Decimal
    ledger: Decimal
    mismatched: list[int]  # user ids whose balance differs from the sum of their entries (first few)
    mismatched_count: int

    @property
    def ok(self) -> bool:
        return self.mismatched_count == 0 and self.balances == self.ledger


@dataclass(frozen=True)
class PaidRow:
    paid_at: datetime | None
    method: str
    manual_method_id: int | None
    amount: Decimal
    fee: Decimal | None
    status: str


class TopUpRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, topup: TopUp) -> TopUp:
        return await insert_new(self.session, topup)

    async def get(self, topup_id: int) -> TopUp | None:
        result = await self.session.execute(select(TopUp).where(TopUp.id == topup_id))
        return result.scalars().first()

    async def fresh(self, topup_id: int) -> TopUp | None:
        """The row as the database has it now (after a lost compare-and-set)."""
        result = await self.session.execute(
            select(TopUp).where(TopUp.id == topup_id).execution_options(populate_existing=True)
        )
        return result.scalars().first()

    async def by_charge(self, charge_id: str) -> TopUp | None:
        result = await self.session.execute(select(TopUp).where(TopUp.charge_id == charge_id))
        return result.scalars().first()

    async def by_invoice(self, invoice_id: str) -> TopUp | None:
        result = await self.session.execute(select(TopUp).where(TopUp.invoice_id == invoice_id))
        return result.scalars().first()

    async def move(self, topup_id: int, from_statuses: Iterable[str], to_status: str, **values: Any) -> bool:
        """Compare-and-set the status; True when this call made the change."""
        result = await self.session.execute(
            update(TopUp)
            .where(TopUp.id == topup_id, TopUp.status.in_(list(from_statuses)))
            .values(status=to_status, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_fields(self, topup_id: int, **values: Any) -> None:
        await self.session.execute(
            update(TopUp)
            .where(TopUp.id == topup_id)
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )

    async def due_to_expire(self, now: datetime, *, limit: int = 200) -> list[TopUp]:
        result = await self.session.execute(
            select(TopUp)
            .where(
                TopUp.status == TopUpStatus.PENDING,
                TopUp.method.in_([TopUpMethod.STARS, TopUpMethod.CRYPTOPAY]),
                TopUp.expires_at.is_not(None),
                TopUp.expires_at <= now,
            )
            .order_by(TopUp.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def open_invoices(self, *, late_since: datetime, limit: int = 1000) -> list[TopUp]:
        """Crypto Pay top-ups that may still be paid: pending, or closed recently (a late payment)."""
        result = await self.session.execute(
            select(TopUp)
            .where(
                TopUp.method == TopUpMethod.CRYPTOPAY,
                TopUp.invoice_id.is_not(None),
                or_(
                    TopUp.status == TopUpStatus.PENDING,
                    and_(TopUp.status == TopUpStatus.EXPIRED, TopUp.expires_at >= late_since),
                ),
            )
            .order_by(TopUp.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def charges(self, charge_ids: Sequence[str]) -> set[str]:
        """Which of these Stars charges a top-up holds already."""
        if not charge_ids:
            return set()
        result = await self.session.execute(
            select(TopUp.charge_id).where(TopUp.charge_id.in_(list(charge_ids)))
        )
        return {str(row[0]) for row in result.all() if row[0] is not None}

    async def for_user(self, user_id: int, *, limit: int = 10) -> list[TopUp]:
        result = await self.session.execute(
            select(TopUp).where(TopUp.user_id == user_id).order_by(TopUp.id.desc()).limit(limit)
        )
        return list(result.scalars())

    async def pending_manual(self, *, limit: int = 20) -> list[TopUp]:
        result = await self.session.execute(
            select(TopUp)
            .where(TopUp.method == TopUpMethod.MANUAL, TopUp.status == TopUpStatus.PENDING)
            .order_by(TopUp.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def paid_since(self, since: datetime) -> list[PaidRow]:
        """Top-ups paid since then (refunded ones too: they were paid), oldest first."""
        result = await self.session.execute(
            select(TopUp.paid_at, TopUp.method, TopUp.manual_method_id, TopUp.amount, TopUp.fee, TopUp.status)
            .where(TopUp.paid_at.is_not(None), TopUp.paid_at >= since)
            .order_by(TopUp.paid_at)
        )
        return [PaidRow(*row) for row in result.all()]

    async def totals_by_status(self, statuses: Sequence[str]) -> dict[tuple[str, str], tuple[int, Decimal]]:
        """(method, status) -> (count, amount) for these statuses, over all time."""
        result = await self.session.execute(
            select(TopUp.method, TopUp.status, func.count(), func.coalesce(func.sum(TopUp.amount), 0))
            .where(TopUp.status.in_(list(statuses)))
            .group_by(TopUp.method, TopUp.status)
        )
        totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for method, status, count, amount in result.all():
            totals[(str(method), str(status))] = (int(count), _money_sum(amount))
        return totals


def _money_sum(value: Any) -> Decimal:
    """A SUM over a Money column (typed Money itself), None for no rows."""
    return to_money(Decimal(value)) if value is not None else Decimal("0.0000")


class ManualMethodRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, method: ManualPaymentMethod) -> ManualPaymentMethod:
        self.session.add(method)
        await self.session.flush()
        return method

    async def get(self, method_id: int) -> ManualPaymentMethod | None:
        result = await self.session.execute(
            select(ManualPaymentMethod).where(
                ManualPaymentMethod.id == method_id, ManualPaymentMethod.deleted.is_(False)
            )
        )
        return result.scalars().first()

    async def get_any(self, method_id: int) -> ManualPaymentMethod | None:
        """Also a deleted one (old requests still name it)."""
        return await self.session.get(ManualPaymentMethod, method_id)

    async def listed(self, *, enabled_only: bool) -> list[ManualPaymentMethod]:
        query = select(ManualPaymentMethod).where(ManualPaymentMethod.deleted.is_(False))
        if enabled_only:
            query = query.where(ManualPaymentMethod.enabled.is_(True))
        result = await self.session.execute(
            query.order_by(ManualPaymentMethod.position, ManualPaymentMethod.id)
        )
        return list(result.scalars())

    async def update(self, method_id: int, **values: Any) -> bool:
        result = await self.session.execute(
            update(ManualPaymentMethod)
            .where(ManualPaymentMethod.id == method_id, ManualPaymentMethod.deleted.is_(False))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


async def wallet_reconciliation(session: AsyncSession, *, shown: int = 10) -> WalletReconciliation:
    """Every user's cached balance against the sum of their ledger entries, in SQL (exact integers)."""
    users = int((await session.execute(select(func.count()).select_from(User))).scalar_one())
    balances = _money_sum((await session.execute(select(func.sum(User.balance)))).scalar_one())
    ledger = _money_sum((await session.execute(select(func.sum(LedgerEntry.amount)))).scalar_one())
    sums = (
        select(LedgerEntry.user_id.label("user_id"), func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.user_id)
        .subquery()
    )
    mismatch = and_(
        or_(sums.c.total.is_(None), User.balance != sums.c.total),
        or_(sums.c.total.is_not(None), User.balance != 0),
    )
    query = select(User.id).outerjoin(sums, sums.c.user_id == User.id).where(mismatch)
    count = int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
    ids = [row[0] for row in (await session.execute(query.order_by(User.id).limit(shown))).all()]
    return WalletReconciliation(users, balances, ledger, ids, count)
