"""Growth tables: promo codes and their uses, referrals and earnings, support tickets, notice settings.

Race-safety lives in SQL: a code's `uses` grows only through one conditional UPDATE; a use is a row
unique on (code, user, n); a referee is bound by an UPDATE that requires no referrer yet; a ticket is
taken by an UPDATE that requires nobody (or the same admin) to hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CustomerPrefs,
    NoticeLevel,
    Order,
    PromoCode,
    PromoRedemption,
    Referral,
    ReferralEarning,
    SupportMessage,
    SupportTicket,
    TicketStatus,
    TopUp,
    TopUpStatus,
    User,
    utcnow,
)
from storage.types import to_money


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _money(value: Any) -> Decimal:
    """A SUM over a Money column (typed Money itself), None for no rows."""
    return to_money(Decimal(value)) if value is not None else Decimal("0.0000")


# --- promo codes ------------------------------------------------------------------------------------


class PromoRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, promo: PromoCode) -> PromoCode:
        self.session.add(promo)
        await self.session.flush()
        return promo

    async def by_code(self, code: str) -> PromoCode | None:
        result = await self.session.execute(select(PromoCode).where(PromoCode.code == code))
        return result.scalars().first()

    async def get(self, promo_id: int) -> PromoCode | None:
        return await self.session.get(PromoCode, promo_id)

    async def take_use(self, code: str, now: datetime) -> PromoCode | None:
        """Count one more use of a live code, only while uses remain: the conditional uses counter.

        Returns the code (as it is after the change) or None when it is unknown, off, expired or
        used up. On PostgreSQL the row lock makes a racing UPDATE wait and check `uses` again.
        """
        result = await self.session.execute(
            update(PromoCode)
            .where(
                PromoCode.code == code,
                PromoCode.active.is_(True),
                or_(PromoCode.expires_at.is_(None), PromoCode.expires_at > now),
                or_(PromoCode.max_uses.is_(None), PromoCode.uses < PromoCode.max_uses),
            )
            .values(uses=PromoCode.uses + 1)
            .returning(PromoCode.id)
            .execution_options(synchronize_session=False)
        )
        promo_id = result.scalar_one_or_none()
        if promo_id is None:
            return None
        return await self.session.get(PromoCode, promo_id, populate_existing=True)

    async def uses_by(self, promo_id: int, user_id: int) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(PromoRedemption)
            .where(PromoRedemption.promo_id == promo_id, PromoRedemption.user_id == user_id)
        )
        return int(result.scalar_one())

    async def add_redemption(self, redemption: PromoRedemption) -> PromoRedemption:
        """INSERT the use; a second use with the same (code, user, n) raises IntegrityError."""
        self.session.add(redemption)
        await self.session.flush()
        return redemption

    async def waiting_bonus(self, user_id: int) -> tuple[PromoRedemption, PromoCode] | None:
        """The customer's oldest redeemed percent bonus not applied to a top-up yet."""
        result = await self.session.execute(
            select(PromoRedemption, PromoCode)
            .join(PromoCode, PromoCode.id == PromoRedemption.promo_id)
            .where(PromoRedemption.user_id == user_id, PromoRedemption.applied_at.is_(None))
            .order_by(PromoRedemption.id)
            .limit(1)
        )
        row = result.first()
        return (row[0], row[1]) if row is not None else None

    async def mark_applied(self, redemption_id: int, *, amount: Decimal, topup_id: int | None) -> bool:
        """Compare-and-set: True when this call applied the redemption."""
        result = await self.session.execute(
            update(PromoRedemption)
            .where(PromoRedemption.id == redemption_id, PromoRedemption.applied_at.is_(None))
            .values(applied_at=utcnow(), amount=amount, topup_id=topup_id)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def listed(self, *, limit: int = 30) -> list[PromoCode]:
        result = await self.session.execute(
            select(PromoCode).order_by(PromoCode.active.desc(), PromoCode.id.desc()).limit(limit)
        )
        return list(result.scalars())

    async def set_active(self, promo_id: int, active: bool) -> bool:
        result = await self.session.execute(
            update(PromoCode)
            .where(PromoCode.id == promo_id)
            .values(active=active)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def paid_topups_total(self, user_id: int) -> Decimal:
        result = await self.session.execute(
            select(func.sum(TopUp.amount)).where(
                TopUp.user_id == user_id, TopUp.status.in_([TopUpStatus.PAID, TopUpStatus.REFUNDING])
            )
        )
        return _money(result.scalar_one())


# --- referrals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralStats:
    referees: int
    earned: Decimal  # credited, before reversals
    reversed: Decimal


class ReferralRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> Referral | None:
        return await self.session.get(Referral, user_id)

    async def by_code(self, code: str) -> Referral | None:
        result = await self.session.execute(select(Referral).where(Referral.code == code))
        return result.scalars().first()

    async def create(self, user_id: int, code: str) -> bool:
        """INSERT the user's row with `code` unless they have one; False when nothing was inserted."""
        insert = _insert(self.session)
        statement = (
            insert(Referral)
            .values(user_id=user_id, code=code, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def bind(self, user_id: int, referrer_id: int, now: datetime) -> bool:
        """Set the referrer once: only while the user has none (a compare-and-set)."""
        result = await self.session.execute(
            update(Referral)
            .where(Referral.user_id == user_id, Referral.referrer_id.is_(None))
            .values(referrer_id=referrer_id, bound_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def referrer_of(self, user_id: int) -> int | None:
        result = await self.session.execute(select(Referral.referrer_id).where(Referral.user_id == user_id))
        return result.scalar_one_or_none()

    async def earning(self, order_id: int) -> ReferralEarning | None:
        return await self.session.get(ReferralEarning, order_id, populate_existing=True)

    async def add_earning(self, earning: ReferralEarning) -> None:
        self.session.add(earning)
        await self.session.flush()

    async def add_reversed(self, order_id: int, amount: Decimal) -> None:
        await self.session.execute(
            update(ReferralEarning)
            .where(ReferralEarning.order_id == order_id)
            .values(reversed=ReferralEarning.reversed + amount)
            .execution_options(synchronize_session=False)
        )

    async def stats(self, referrer_id: int) -> ReferralStats:
        referees = await self.session.execute(
            select(func.count()).select_from(Referral).where(Referral.referrer_id == referrer_id)
        )
        sums = await self.session.execute(
            select(func.sum(ReferralEarning.earned), func.sum(ReferralEarning.reversed)).where(
                ReferralEarning.referrer_id == referrer_id
            )
        )
        earned, reversed_ = sums.one()
        return ReferralStats(int(referees.scalar_one()), _money(earned), _money(reversed_))


# --- support ----------------------------------------------------------------------------------------


class SupportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ticket_id: int) -> SupportTicket | None:
        return await self.session.get(SupportTicket, ticket_id, populate_existing=True)

    async def current_for(self, user_id: int) -> SupportTicket | None:
        """The customer's ticket that is not closed (newest), if any."""
        result = await self.session.execute(
            select(SupportTicket)
            .where(SupportTicket.user_id == user_id, SupportTicket.status != TicketStatus.CLOSED)
            .order_by(SupportTicket.id.desc())
            .limit(1)
        )
        return result.scalars().first()

    async def add_ticket(self, user_id: int, now: datetime) -> SupportTicket:
        ticket = SupportTicket(user_id=user_id, status=TicketStatus.OPEN, created_at=now, updated_at=now)
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def add_message(self, message: SupportMessage) -> SupportMessage:
        self.session.add(message)
        await self.session.flush()
        return message

    async def set_status(
        self, ticket_id: int, status: str, now: datetime, *, only_if_not: str | None = None
    ) -> bool:
        conditions = [SupportTicket.id == ticket_id]
        if only_if_not is not None:
            conditions.append(SupportTicket.status != only_if_not)
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == TicketStatus.CLOSED:
            values["closed_at"] = now
        result = await self.session.execute(
            update(SupportTicket)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def take(self, ticket_id: int, admin_id: int) -> bool:
        """The first admin to reply takes the ticket; True for them (and again for them later)."""
        result = await self.session.execute(
            update(SupportTicket)
            .where(
                SupportTicket.id == ticket_id,
                SupportTicket.status != TicketStatus.CLOSED,
                or_(SupportTicket.taken_by.is_(None), SupportTicket.taken_by == admin_id),
            )
            .values(taken_by=admin_id)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def remember_copies(self, message_id: int, copies: dict[str, list[Any]]) -> None:
        await self.session.execute(
            update(SupportMessage)
            .where(SupportMessage.id == message_id)
            .values(admin_messages=copies)
            .execution_options(synchronize_session=False)
        )

    async def messages(self, ticket_id: int, *, limit: int = 10) -> list[SupportMessage]:
        result = await self.session.execute(
            select(SupportMessage)
            .where(SupportMessage.ticket_id == ticket_id)
            .order_by(SupportMessage.id.desc())
            .limit(limit)
        )
        return list(reversed(list(result.scalars())))

    async def customer_copies(self, ticket_id: int) -> list[SupportMessage]:
        """The customer's messages of a ticket that reached admins (their copies to update)."""
        result = await self.session.execute(
            select(SupportMessage)
            .where(SupportMessage.ticket_id == ticket_id, SupportMessage.from_admin.is_(False))
            .order_by(SupportMessage.id)
        )
        return [message for message in result.scalars() if message.admin_messages]

    async def waiting(self, *, limit: int = 20) -> list[SupportTicket]:
        """Tickets not closed, those waiting for an answer first, oldest first."""
        result = await self.session.execute(
            select(SupportTicket)
            .where(SupportTicket.status != TicketStatus.CLOSED)
            .order_by((SupportTicket.status == TicketStatus.OPEN).desc(), SupportTicket.updated_at)
            .limit(limit)
        )
        return list(result.scalars())


# --- customer settings ------------------------------------------------------------------------------


class PrefsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def notices(self, user_id: int) -> str:
        result = await self.session.execute(
            select(CustomerPrefs.notices).where(CustomerPrefs.user_id == user_id)
        )
        return result.scalar_one_or_none() or NoticeLevel.ALL

    async def set_notices(self, user_id: int, level: str) -> None:
        insert = _insert(self.session)
        statement = insert(CustomerPrefs).values(user_id=user_id, notices=level)
        statement = statement.on_conflict_do_update(index_elements=["user_id"], set_={"notices": level})
        await self.session.execute(statement)


# --- owner alerts -----------------------------------------------------------------------------------


class AlertScanRepository:
    """Orders newer than the owner-alert cursor (bot/services/growth/alerts.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def orders_after(self, order_id: int, *, limit: int = 200) -> list[Order]:
        result = await self.session.execute(
            select(Order).where(Order.id > order_id).order_by(Order.id).limit(limit)
        )
        return list(result.scalars())

    async def reachable(self, user_ids: Sequence[int]) -> list[int]:
        """Those of `user_ids` who wrote to the bot and did not block it (a bot cannot open a chat)."""
        if not user_ids:
            return []
        result = await self.session.execute(
            select(User.id).where(User.id.in_(list(user_ids)), User.blocked_bot.is_(False)).order_by(User.id)
        )
        return list(result.scalars())

    async def last_order_id(self) -> int:
        result = await self.session.execute(select(func.max(Order.id)))
        return int(result.scalar_one() or 0)


__all__ = [
    "AlertScanRepository",
    "PrefsRepository",
    "PromoRepository",
    "ReferralRepository",
    "ReferralStats",
    "SupportRepository",
]
