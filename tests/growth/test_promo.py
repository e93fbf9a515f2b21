"""Promo codes: created from the admin console, redeemed with /promo or the menu button; a credit
at once or a percent bonus on the next top-up; races never redeem more than allowed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

from bot.services.growth.promo import PromoService, RedeemOutcome
from storage.models import LedgerEntry, LedgerKind, PromoCode
from tests.admin.conftest import audit_rows
from tests.growth.conftest import ADMIN_ID, PayShop, growth, make_promo, stars_top_up


async def test_admin_creates_a_code_and_a_customer_redeems_it_once(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    await boss.send_text("/newpromo welcome5 5 uses=10 days=30")
    created = await boss.wait_for_message(contains="Created")
    assert "WELCOME5" in created.text and "5.00 USD" in created.text and "used 0 of 10" in created.text
    await boss.send_text("/newpromo WELCOME5 7")
    await boss.wait_for_message(contains="exists already")
    await boss.send_text("/newpromo X! 5")
    await boss.wait_for_message(contains="3 to 32 letters")
    await boss.send_text("/newpromo GIFT 150%")
    await boss.wait_for_message(contains="at most 100%")
    assert any(row.action == "promo.create" for row in await audit_rows(pay_shop))

    ann = await pay_shop.customer()
    await ann.send_text("/promo welcome5")
    credited = await ann.wait_for_message(contains="added to your balance")
    assert "5.00 USD" in credited.text and "Balance: 5.00 USD" in credited.text
    await ann.send_text("/promo WELCOME5")
    await ann.wait_for_message(contains="already used promo code")
    await ann.send_text("/promo NOPE123")
    await ann.wait_for_message(contains="There is no promo code")

    await ann.send_text("/start")
    menu = await ann.wait_for_message(contains="Ann")
    await ann.press("🎟 Promo code", menu)  # the menu button asks for the code; bad input asks again
    await ann.wait_for_message(contains="Send me your promo code")
    await ann.send_text("??")
    await ann.wait_for_message(contains="does not look like a promo code")
    await ann.send_text("welcome5")
    await ann.wait_for_message(contains="already used")

    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "+5.00 USD" in wallet.text and "Promo code" in wallet.text
    assert await pay_shop.balance(1001) == (Decimal("5.0000"), Decimal("5.0000"))

    await boss.send_text("/promos")
    listing = await boss.wait_for_message(contains="Promo codes")
    assert "used 1 of 10" in listing.text
    await boss.press("🚫 Turn off WELCOME5", listing)
    await boss.wait_for_message(contains="(off)")
    bob = await pay_shop.customer(1002, "Bob")
    await bob.send_text("/promo welcome5")
    await bob.wait_for_message(contains="There is no promo code")


async def test_the_last_use_raced_by_two_customers_is_redeemed_once(pay_shop: PayShop) -> None:
    await make_promo(pay_shop, "LAST 5 uses=1")
    ann = await pay_shop.customer(1001, "Ann")
    bob = await pay_shop.customer(1002, "Bob")
    await asyncio.gather(ann.send_text("/promo LAST"), bob.send_text("/promo LAST"))
    answers = await asyncio.gather(
        ann.wait_for_message(contains="LAST"), bob.wait_for_message(contains="LAST")
    )
    texts = sorted(answer.text for answer in answers)
    assert sum("added to your balance" in text for text in texts) == 1, texts
    assert sum("has been used up" in text for text in texts) == 1, texts
    balances = [await pay_shop.balance(1001), await pay_shop.balance(1002)]
    assert sorted(balance for balance, _ in balances) == [Decimal("0.0000"), Decimal("5.0000")]


async def test_racing_redemptions_never_exceed_the_limits(pay_shop: PayShop) -> None:
    """Many customers at once for 3 uses, and one customer tapping five times: the counter and the
    unique (code, user, n) hold on SQLite and PostgreSQL alike."""
    promos: PromoService = growth(pay_shop, "promos")
    await make_promo(pay_shop, "THREE 2 uses=3")
    await make_promo(pay_shop, "TWICE 1 per_user=2")
    for user_id in range(2001, 2013):
        await pay_shop.fund(user_id, "0.01", first_name=f"U{user_id}")
    results = await asyncio.gather(*(promos.redeem(user_id, "three") for user_id in range(2001, 2013)))
    outcomes = [result.outcome for result in results]
    assert outcomes.count(RedeemOutcome.CREDITED) == 3
    assert outcomes.count(RedeemOutcome.USED_UP) == 9
    taps = await asyncio.gather(*(promos.redeem(2001, "TWICE") for _ in range(5)))
    assert [tap.outcome for tap in taps].count(RedeemOutcome.CREDITED) == 2
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory() as session:
        credits = await session.execute(
            select(func.count(), func.sum(LedgerEntry.amount)).where(
                LedgerEntry.kind == LedgerKind.PROMO_CREDIT
            )
        )
        assert tuple(credits.one()) == (5, Decimal("8.0000"))  # 3 × 2 + 2 × 1
        uses = dict((await session.execute(select(PromoCode.code, PromoCode.uses))).all())
        assert uses == {"THREE": 3, "TWICE": 2}


async def test_a_percent_bonus_applies_to_the_next_big_enough_top_up_once(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    await boss.send_text("/newpromo BONUS10 10% min=20 until=2099-12-31")
    created = await boss.wait_for_message(contains="Created")
    assert "+10% on the next top-up" in created.text and "minimum top-up 20.00 USD" in created.text
    await make_promo(pay_shop, "MORE 20%")

    ann = await pay_shop.customer()
    await ann.send_text("/promo bonus10")
    waiting = await ann.wait_for_message(contains="bonus")
    assert "10% bonus" in waiting.text and "at least 20.00 USD" in waiting.text
    await ann.send_text("/promo MORE")
    await ann.wait_for_message(contains="already have a top-up bonus waiting")

    await stars_top_up(ann, "10")  # below the code's minimum: the bonus keeps waiting
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))
    credited = await stars_top_up(ann, "50")
    assert "Your balance: 65.00 USD" in credited.text  # 10 + 50 + 10% of 50
    await stars_top_up(ann, "30")  # used: no second bonus
    assert await pay_shop.balance(1001) == (Decimal("95.0000"), Decimal("95.0000"))
    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "Promo code bonus on a top-up: +5.00 USD" in wallet.text


async def test_expired_and_minimum_top_up_codes_are_refused_with_a_reason(pay_shop: PayShop) -> None:
    await make_promo(pay_shop, "LOYAL 3 min=15")
    ann = await pay_shop.customer()
    await ann.send_text("/promo LOYAL")
    await ann.wait_for_message(contains="topped up at least 15.00 USD")
    await stars_top_up(ann, "15")
    await ann.send_text("/promo LOYAL")
    await ann.wait_for_message(contains="3.00 USD added")
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory.begin() as session:
        await session.execute(
            PromoCode.__table__.insert().values(  # type: ignore[attr-defined]
                code="OLD",
                kind="credit",
                amount=Decimal("1"),
                per_user=1,
                uses=0,
                active=True,
                created_at=func.now(),
                expires_at=func.now(),
            )
        )
    await ann.send_text("/promo old")
    await ann.wait_for_message(contains="has expired")
    assert await pay_shop.balance(1001) == (Decimal("18.0000"), Decimal("18.0000"))
