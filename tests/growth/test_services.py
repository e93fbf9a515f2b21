"""Growth services without Telegram: the promo definition parser, and the referral money rules
at their edges (a referrer who spent the earning, an order refunded twice over), on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.growth.promo import PromoSpecError, parse_spec
from bot.services.growth.referrals import ReferralService, on_order_final
from bot.services.growth.settings import REFERRAL_PERCENT
from bot.services.refunds import refund_order
from storage.models import LedgerEntry, LedgerKind, Order, OrderState, PromoKind, ReferralEarning
from storage.repositories.ledger import LedgerRepository
from storage.repositories.settings import SettingsRepository
from storage.repositories.topups import wallet_reconciliation
from tests.tracking.helpers import make_user

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_promo_definitions_parse_or_say_what_is_wrong() -> None:
    spec = parse_spec("spring-25 2.50 uses=100 per_user=2 days=7 min=10", NOW)
    assert (spec.code, spec.kind, spec.amount) == ("SPRING-25", PromoKind.CREDIT, Decimal("2.50"))
    assert (spec.max_uses, spec.per_user, spec.min_topup) == (100, 2, Decimal("10"))
    assert spec.expires_at == NOW + timedelta(days=7)
    bonus = parse_spec("GIFT 15% until=2026-12-31", NOW)
    assert bonus.kind == PromoKind.BONUS and bonus.amount == Decimal("15")
    assert bonus.expires_at == datetime(2027, 1, 1, tzinfo=UTC)  # through the whole last day
    assert parse_spec("BIG 1,000.00 min=2,500.50", NOW).amount == Decimal("1000.00")
    for text, key in [
        ("", "promo.admin.usage"),
        ("ONLY", "promo.admin.usage"),
        ("a 5", "promo.admin.bad_code"),
        ("CODE five", "promo.admin.bad_amount"),
        ("CODE 0", "promo.admin.bad_amount"),
        ("CODE 1.005", "promo.admin.bad_amount"),
        ("CODE NaN", "promo.admin.bad_amount"),
        ("CODE 101%", "promo.admin.bad_percent"),
        ("CODE 1,000", "promo.admin.bad_amount"),  # one thousand or one: never taken for 1.00
        ("CODE 5 min=1,000", "promo.admin.bad_amount"),
        ("CODE 5 uses=0", "promo.admin.bad_option"),
        ("CODE 5 colour=red", "promo.admin.bad_option"),
        ("CODE 5 until=2026-12-05", "promo.admin.in_the_past"),
        ("CODE 5 until=tomorrow", "promo.admin.bad_option"),
    ]:
        with pytest.raises(PromoSpecError) as raised:
            parse_spec(text, NOW)
        assert raised.value.key == key, text


async def completed_order(factory: async_sessionmaker[AsyncSession], user_id: int, price: str) -> int:
    async with factory.begin() as session:
        order = Order(
            user_id=user_id,
            draft_key=f"d-{user_id}-{price}",
            service_id="1",
            service_name="Followers",
            service_type="default",
            link="https://example.com/x",
            quantity=1000,
            params={},
            price=Decimal(price),
            cost=Decimal(price),
            state=OrderState.COMPLETED,
            upstream_id=f"u-{user_id}-{price}",
        )
        session.add(order)
        await session.flush()
        await on_order_final(session, order)
        return order.id


async def test_a_reversal_never_takes_the_referrer_below_zero(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await make_user(session_factory, 1001, "0")
    await make_user(session_factory, 1002, "50")
    async with session_factory.begin() as session:
        await SettingsRepository(session).set(REFERRAL_PERCENT, "10")
    referrals = ReferralService(session_factory)
    code = await referrals.code_for(1001)
    assert await referrals.bind(1002, code, first_start=True) == "bound"
    assert await referrals.bind(1002, code, first_start=True) == "already"
    order_id = await completed_order(session_factory, 1002, "20")
    async with session_factory.begin() as session:
        ledger = LedgerRepository(session)
        assert await ledger.balance(1001) == Decimal("2.0000")
        await ledger.apply(user_id=1001, amount=Decimal("-1.5"), kind=LedgerKind.ADMIN_DEBIT, key="spent")
    async with session_factory.begin() as session:  # the whole order is refunded: 2.00 is due back
        order = await session.get(Order, order_id)
        assert order is not None
        await refund_order(session, order, Decimal("20"), note="admin refund")
    async with session_factory.begin() as session:  # seen again: nothing more happens
        order = await session.get(Order, order_id)
        assert order is not None
        await refund_order(session, order, Decimal("20"), note="admin refund")
        await on_order_final(session, order)
    async with session_factory() as session:
        assert await LedgerRepository(session).balance(1001) == Decimal(
            "0.0000"
        )  # 0.50 taken, 1.50 written off
        reversals = (
            await session.execute(
                select(LedgerEntry.amount).where(LedgerEntry.kind == LedgerKind.REFERRAL_REVERSAL)
            )
        ).scalars()
        assert list(reversals) == [Decimal("-0.5000")]
        earning = await session.get(ReferralEarning, order_id)
        assert earning is not None and (earning.earned, earning.reversed) == (
            Decimal("2.0000"),
            Decimal("2.0000"),
        )
        assert (await wallet_reconciliation(session)).ok


async def test_no_referrer_no_percent_no_earning(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_user(session_factory, 1001, "0")
    await make_user(session_factory, 1002, "50")
    await completed_order(session_factory, 1002, "20")  # not referred
    referrals = ReferralService(session_factory)
    assert await referrals.bind(1002, await referrals.code_for(1001), first_start=False) == "not_new"
    assert await referrals.bind(1002, "nosuch99", first_start=True) == "unknown"
    async with session_factory() as session:
        assert await LedgerRepository(session).balance(1001) == Decimal("0.0000")
