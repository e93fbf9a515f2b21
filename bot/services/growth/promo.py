"""Promo codes: a fixed credit, or a percent bonus on the customer's next top-up.

Redeeming is one transaction whose first statement is the conditional uses counter (`take_use`),
then the use row, unique on (code, user, n), then the credit's ledger entry: two customers racing
for the last use, or one customer tapping twice, never redeem more than allowed; anything refused
after the counter rolls the counter back with it. A bonus waits for the next top-up at least the
code's minimum and is credited inside that top-up's settle transaction (TopUpService settle hook),
under a ledger key naming the redemption, so it is paid once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.audit import write_audit
from bot.services.amounts import AmountError, parse_money
from storage.models import LedgerKind, PromoCode, PromoKind, PromoRedemption, TopUp, utcnow
from storage.repositories.growth import PromoRepository
from storage.repositories.ledger import LedgerRepository

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,31}$")
AMOUNT_MAX = Decimal("1000000")
USES_MAX = 10_000_000


def normalize_code(raw: str) -> str | None:
    """A code as stored (upper case), or None when it cannot be one."""
    code = raw.strip().upper()
    return code if CODE_PATTERN.match(code) else None


def floor_cent(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_DOWN)


class RedeemOutcome(StrEnum):
    CREDITED = "credited"  # a fixed credit went to the wallet
    BONUS_WAITING = "bonus_waiting"  # a percent bonus waits for the next top-up
    INVALID = "invalid"  # not a code at all
    UNKNOWN = "unknown"  # no such live code (or switched off)
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_USED = "already_used"  # this customer's limit is reached
    BONUS_PENDING = "bonus_pending"  # another bonus of theirs still waits for a top-up
    NEEDS_TOPUPS = "needs_topups"  # a credit code for customers who topped up at least `minimum`


@dataclass(frozen=True)
class Redeemed:
    outcome: RedeemOutcome
    code: str = ""
    amount: Decimal | None = None  # CREDITED: the credit; BONUS_WAITING: the percent
    minimum: Decimal | None = None
    balance: Decimal | None = None


class _Refused(Exception):
    def __init__(self, outcome: RedeemOutcome, minimum: Decimal | None = None) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome
        self.minimum = minimum


class PromoSpecError(ValueError):
    """The admin's promo definition cannot be used; `key` is the locale key saying why."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class PromoSpec:
    """A code as the admin defines it: `/newpromo CODE 5` (a credit) or `CODE 10%` (a bonus), then
    options `uses=N`, `per_user=N`, `until=YYYY-MM-DD` or `days=N`, `min=AMOUNT`."""

    code: str
    kind: PromoKind
    amount: Decimal
    max_uses: int | None = None
    per_user: int = 1
    expires_at: datetime | None = None
    min_topup: Decimal | None = None


def _positive_int(name: str, value: str) -> int:
    if not value.isdecimal() or not 1 <= int(value) <= USES_MAX:
        raise PromoSpecError("promo.admin.bad_option", option=name)
    return int(value)


def _amount(text: str, *, percent: bool) -> Decimal:
    """The shared money parser's reading (so `1,000` is refused, never taken for 1.00)."""
    try:
        value = parse_money(text, maximum=AMOUNT_MAX)
    except AmountError:
        raise PromoSpecError("promo.admin.bad_amount") from None
    if percent and value > 100:
        raise PromoSpecError("promo.admin.bad_percent")
    return value


def parse_spec(text: str, now: datetime | None = None) -> PromoSpec:
    """Parse `CODE AMOUNT[%] [uses=N] [per_user=N] [until=YYYY-MM-DD | days=N] [min=AMOUNT]`."""
    now = now or utcnow()
    parts = text.split()
    if len(parts) < 2:
        raise PromoSpecError("promo.admin.usage")
    code = normalize_code(parts[0])
    if code is None:
        raise PromoSpecError("promo.admin.bad_code")
    raw = parts[1]
    percent = raw.endswith("%")
    amount = _amount(raw.rstrip("%"), percent=percent)
    max_uses: int | None = None
    per_user = 1
    expires_at: datetime | None = None
    min_topup: Decimal | None = None
    for option in parts[2:]:
        name, sep, value = option.partition("=")
        name = name.lower().replace("-", "_")
        if not sep or not value:
            raise PromoSpecError("promo.admin.bad_option", option=option[:40])
        if name == "uses":
            max_uses = _positive_int(name, value)
        elif name in ("per_user", "peruser"):
            per_user = _positive_int(name, value)
        elif name == "days":
            expires_at = now + timedelta(days=_positive_int(name, value))
        elif name == "until":
            try:
                day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=now.tzinfo)
            except ValueError:
                raise PromoSpecError("promo.admin.bad_option", option=name) from None
            expires_at = day + timedelta(days=1)  # valid through that whole day (UTC)
            if expires_at <= now:
                raise PromoSpecError("promo.admin.in_the_past")
        elif name == "min":
            min_topup = _amount(value, percent=False)
        else:
            raise PromoSpecError("promo.admin.bad_option", option=name[:40])
    kind = PromoKind.BONUS if percent else PromoKind.CREDIT
    return PromoSpec(code, kind, amount, max_uses, per_user, expires_at, min_topup)


class PromoExists(Exception):
    pass


class PromoService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    # --- customers ------------------------------------------------------------------------------

    async def redeem(self, user_id: int, raw_code: str, *, now: datetime | None = None) -> Redeemed:
        code = normalize_code(raw_code)
        if code is None:
            return Redeemed(RedeemOutcome.INVALID)
        now = now or utcnow()
        try:
            async with self.session_factory.begin() as session:
                return await self._redeem(session, user_id, code, now)
        except _Refused as refused:
            return Redeemed(refused.outcome, code, minimum=refused.minimum)
        except IntegrityError:
            # The same customer's use n was written concurrently (a double tap): theirs stands.
            return Redeemed(RedeemOutcome.ALREADY_USED, code)

    async def _redeem(self, session: AsyncSession, user_id: int, code: str, now: datetime) -> Redeemed:
        repo = PromoRepository(session)
        promo = await repo.take_use(code, now)  # first statement: takes the write lock on SQLite
        if promo is None:
            found = await repo.by_code(code)
            if found is None or not found.active:
                raise _Refused(RedeemOutcome.UNKNOWN)
            if found.expires_at is not None and found.expires_at <= now:
                raise _Refused(RedeemOutcome.EXPIRED)
            raise _Refused(RedeemOutcome.USED_UP)
        n = await repo.uses_by(promo.id, user_id) + 1
        if n > promo.per_user:
            raise _Refused(RedeemOutcome.ALREADY_USED)
        if promo.kind == PromoKind.BONUS:
            if await repo.waiting_bonus(user_id) is not None:
                raise _Refused(RedeemOutcome.BONUS_PENDING)
        elif promo.min_topup is not None and await repo.paid_topups_total(user_id) < promo.min_topup:
            raise _Refused(RedeemOutcome.NEEDS_TOPUPS, promo.min_topup)
        credit = promo.kind == PromoKind.CREDIT
        redemption = await repo.add_redemption(
            PromoRedemption(
                promo_id=promo.id,
                user_id=user_id,
                n=n,
                kind=promo.kind,
                amount=promo.amount if credit else None,
                created_at=now,
                applied_at=now if credit else None,
            )
        )
        if not credit:
            return Redeemed(RedeemOutcome.BONUS_WAITING, code, promo.amount, promo.min_topup)
        ledger = LedgerRepository(session)
        await ledger.apply(
            user_id=user_id,
            amount=promo.amount,
            kind=LedgerKind.PROMO_CREDIT,
            key=f"promo:{redemption.id}",
            note=code,
        )
        balance = await ledger.balance(user_id)
        log.info("promo code %s credited %s to user %s", code, promo.amount, user_id)
        return Redeemed(RedeemOutcome.CREDITED, code, promo.amount, balance=balance)

    async def waiting_bonus(self, user_id: int) -> PromoCode | None:
        async with self.session_factory() as session:
            found = await PromoRepository(session).waiting_bonus(user_id)
        return found[1] if found else None

    # --- the top-up hook ------------------------------------------------------------------------

    async def apply_bonus(self, session: AsyncSession, topup: TopUp) -> None:
        """TopUpService settle hook: credit a waiting bonus on this top-up, once.

        Runs in a savepoint and never raises: a fault here must not undo the customer's top-up.
        """
        try:
            async with session.begin_nested():
                await bonus_for_topup(session, topup)
        except Exception:
            log.exception("promo bonus for top-up %s failed; the top-up stands", topup.id)

    # --- admins ---------------------------------------------------------------------------------

    async def create(self, admin_id: int, spec: PromoSpec) -> PromoCode:
        try:
            async with self.session_factory.begin() as session:
                repo = PromoRepository(session)
                if await repo.by_code(spec.code) is not None:
                    raise PromoExists(spec.code)
                promo = await repo.add(
                    PromoCode(
                        code=spec.code,
                        kind=spec.kind,
                        amount=spec.amount,
                        min_topup=spec.min_topup,
                        max_uses=spec.max_uses,
                        per_user=spec.per_user,
                        uses=0,
                        expires_at=spec.expires_at,
                        active=True,
                        created_by=admin_id,
                        created_at=utcnow(),
                    )
                )
                await write_audit(
                    session,
                    admin_id,
                    "promo.create",
                    code=spec.code,
                    kind=spec.kind.value,
                    amount=spec.amount,
                    max_uses=spec.max_uses,
                    per_user=spec.per_user,
                    expires_at=spec.expires_at,
                    min_topup=spec.min_topup,
                )
                return promo
        except IntegrityError:
            raise PromoExists(spec.code) from None

    async def listed(self) -> list[PromoCode]:
        async with self.session_factory() as session:
            return await PromoRepository(session).listed()

    async def set_active(self, admin_id: int, promo_id: int, active: bool) -> PromoCode | None:
        async with self.session_factory.begin() as session:
            repo = PromoRepository(session)
            if not await repo.set_active(promo_id, active):
                return None
            promo = await repo.get(promo_id)
            await write_audit(
                session, admin_id, "promo.enable" if active else "promo.disable", promo_id=promo_id
            )
            return promo


async def bonus_for_topup(session: AsyncSession, topup: TopUp) -> Decimal:
    """Credit the customer's waiting percent bonus on `topup` if it qualifies; returns the bonus."""
    repo = PromoRepository(session)
    found = await repo.waiting_bonus(topup.user_id)
    if found is None:
        return Decimal("0")
    redemption, promo = found
    if promo.min_topup is not None and topup.amount < promo.min_topup:
        return Decimal("0")  # keeps waiting for a top-up that is large enough
    bonus = floor_cent(topup.amount * promo.amount / 100)
    if bonus <= 0 or not await repo.mark_applied(redemption.id, amount=bonus, topup_id=topup.id):
        return Decimal("0")
    await LedgerRepository(session).apply(
        user_id=topup.user_id,
        amount=bonus,
        kind=LedgerKind.PROMO_BONUS,
        key=f"promo:{redemption.id}:bonus",
        note=f"{promo.code} #{topup.id}",
    )
    log.info("promo code %s: bonus %s on top-up %s", promo.code, bonus, topup.id)
    return bonus
