"""Referrals: a customer's link `t.me/<bot>?start=ref_<code>` (a random code, not their Telegram id),
a referee bound once on their first start and never to themselves, and the referrer's earnings.

Money: when a referee's order reaches Completed or Partial the referrer earns the referral percent
of its price (one `referral_earning` entry keyed by the order); whenever the order is refunded the
earning is reversed pro rata, `earned × refunded / price` (a `referral_reversal` entry keyed by the
order and the refunded total), so the referrer keeps the percent of what the referee really spent.
Both run inside the transaction that completes or refunds the order (`on_order_final`,
`on_order_refunded`, one line each in bot/services/tracking.py and bot/services/refunds.py). A
reversal never takes a wallet below zero: what the referrer already spent is written off and logged.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.growth.settings import referral_percent_in
from storage.models import LedgerKind, Order, OrderState, ReferralEarning, utcnow
from storage.repositories.growth import ReferralRepository
from storage.repositories.ledger import InsufficientFunds, LedgerRepository

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
START_PREFIX = "ref_"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0, i)
CODE_LENGTH = 8
EARNING_STATES = frozenset({OrderState.COMPLETED, OrderState.PARTIAL})


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_from_start(payload: str | None) -> str | None:
    """`ref_<code>` from a /start payload, or None when the payload is anything else."""
    if not payload or not payload.startswith(START_PREFIX):
        return None
    code = payload[len(START_PREFIX) :].strip().lower()
    if not 1 <= len(code) <= 16 or not all(ch in CODE_ALPHABET for ch in code):
        return None
    return code


class BindOutcome(StrEnum):
    BOUND = "bound"
    SELF = "self"  # their own link
    UNKNOWN = "unknown"  # no such code
    NOT_NEW = "not_new"  # they used the bot before: a referrer is bound on the first start only
    ALREADY = "already"  # bound before


@dataclass(frozen=True)
class ReferralScreen:
    code: str
    referees: int
    earned: Decimal  # net of reversals
    percent: Decimal


async def ensure_row(repo: ReferralRepository, user_id: int) -> str:
    """The user's referral code, created on first need (a fresh random code on a clash)."""
    existing = await repo.get(user_id)
    if existing is not None:
        return existing.code
    for _ in range(5):
        try:
            async with repo.session.begin_nested():
                if await repo.create(user_id, new_code()):
                    break
        except IntegrityError:
            continue  # the random code was taken: draw another
        break
    row = await repo.get(user_id)
    if row is None:
        raise RuntimeError("could not create a referral code")
    return row.code


class ReferralService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def code_for(self, user_id: int) -> str:
        async with self.session_factory.begin() as session:
            return await ensure_row(ReferralRepository(session), user_id)

    async def bind(self, user_id: int, code: str, *, first_start: bool) -> BindOutcome:
        """Bind `user_id` to the owner of `code`: once, on the first start, never to themselves."""
        async with self.session_factory.begin() as session:
            repo = ReferralRepository(session)
            owner = await repo.by_code(code)
            if owner is None:
                return BindOutcome.UNKNOWN
            if owner.user_id == user_id:
                return BindOutcome.SELF
            await ensure_row(repo, user_id)
            if await repo.referrer_of(user_id) is not None:
                return BindOutcome.ALREADY
            if not first_start:
                return BindOutcome.NOT_NEW
            if not await repo.bind(user_id, owner.user_id, utcnow()):
                return BindOutcome.ALREADY
        log.info("user %s joined through user %s's referral link", user_id, owner.user_id)
        return BindOutcome.BOUND

    async def screen(self, user_id: int) -> ReferralScreen:
        async with self.session_factory.begin() as session:
            repo = ReferralRepository(session)
            code = await ensure_row(repo, user_id)
            stats = await repo.stats(user_id)
            percent = await referral_percent_in(session)
        return ReferralScreen(code, stats.referees, stats.earned - stats.reversed, percent)


# --- the order hooks -----------------------------------------------------------------------------


def _kept(earned: Decimal, price: Decimal, refunded: Decimal) -> Decimal:
    """The part of an earning the referrer keeps after `refunded` of `price` went back (rounded
    down to the cent, so a reversal is never smaller than the refund's share)."""
    if price <= 0:
        return Decimal("0")
    delivered = max(price - max(refunded, Decimal("0")), Decimal("0"))
    return (earned * delivered / price).quantize(CENT, rounding=ROUND_DOWN)


async def on_order_final(session: AsyncSession, order: Order, now: datetime | None = None) -> None:
    """An order reached its final state: earn on it (Completed, Partial) and reverse refunded shares."""
    if order.state not in EARNING_STATES or order.price <= 0:
        return
    repo = ReferralRepository(session)
    if await repo.earning(order.id) is None:
        referrer_id = await repo.referrer_of(order.user_id)
        if referrer_id is None:
            return
        percent = await referral_percent_in(session)
        earned = (order.price * percent / 100).quantize(CENT, rounding=ROUND_DOWN)
        if earned <= 0:
            return
        await repo.add_earning(
            ReferralEarning(
                order_id=order.id,
                referrer_id=referrer_id,
                referee_id=order.user_id,
                percent=percent,
                base=order.price,
                earned=earned,
                reversed=Decimal("0"),
                created_at=now or utcnow(),
            )
        )
        await LedgerRepository(session).apply(
            user_id=referrer_id,
            amount=earned,
            kind=LedgerKind.REFERRAL_EARNING,
            key=f"referral:{order.id}",
            note=f"#{order.id}",
        )
    await on_order_refunded(session, order)


async def on_order_refunded(session: AsyncSession, order: Order) -> None:
    """The order's refunded total changed: take back the matching share of its earning, once."""
    repo = ReferralRepository(session)
    earning = await repo.earning(order.id)
    if earning is None:
        return
    due = earning.earned - _kept(earning.earned, earning.base, order.refunded) - earning.reversed
    due = due.quantize(CENT, rounding=ROUND_CEILING)
    if due <= 0:
        return
    ledger = LedgerRepository(session)
    key = f"referral:{order.id}:reversal:{order.refunded}"
    if await ledger.by_key(key) is not None:
        return
    take = min(due, max(await ledger.balance(earning.referrer_id), Decimal("0")))
    if take > 0:
        try:
            await ledger.apply(
                user_id=earning.referrer_id,
                amount=-take,
                kind=LedgerKind.REFERRAL_REVERSAL,
                key=key,
                note=f"#{order.id}",
            )
        except InsufficientFunds as short:  # spent meanwhile (another transaction): take what is left
            take = min(due, max(short.balance, Decimal("0")))
            if take > 0:
                await ledger.apply(
                    user_id=earning.referrer_id,
                    amount=-take,
                    kind=LedgerKind.REFERRAL_REVERSAL,
                    key=key,
                    note=f"#{order.id}",
                )
    if take < due:
        log.warning(
            "referral earning of order %s: %s of the %s reversal was spent already; written off",
            order.id,
            due - take,
            due,
        )
    await repo.add_reversed(order.id, due)
