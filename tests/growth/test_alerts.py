"""Owner alerts go through the outbox, once each: a big order, a refused order, a top-up, the
panel balance low; each can be switched off in the console."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.services.admin.panel import run_panel_check
from sandbox.telegram_server import FakeUser
from tests.e2e.flows import place_order
from tests.growth.conftest import ADMIN_ID, PayShop, growth, stars_top_up


def count(user: FakeUser, text: str) -> int:
    return sum(text in message.text for message in user.messages)


async def test_each_owner_alert_goes_out_once(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    await boss.send_text("/alertamount 1,000")  # one thousand or one: refused, not taken for 1.00
    await boss.wait_for_message(contains="Send an amount, e.g.")
    await boss.send_text("/alertamount 5")
    settings_screen = await boss.wait_for_message(contains="Owner alerts")
    assert "A new order of 5.00 USD or more: on" in settings_screen.text
    ann = await pay_shop.customer()
    await pay_shop.fund(1001, "50")

    await place_order(ann)  # 1.08 USD: below the amount
    await place_order(ann, expect="not accepted")  # the same link again: the panel refuses
    refused = await boss.wait_for_message(contains="refused by the panel", timeout=10)
    assert "Order #2" in refused.text and "user 1001" in refused.text

    await place_order(ann, "https://instagram.com/bob", "10000")  # 10.80 USD
    big = await boss.wait_for_message(contains="New order", timeout=10)
    assert "#3" in big.text and "10.80 USD" in big.text

    await stars_top_up(ann, "10")
    topup = await boss.wait_for_message(contains="Top-up #", timeout=10)
    assert "10.00 USD" in topup.text and "stars" in topup.text

    pay_shop.sim.state.balance = Decimal("2")
    await run_panel_check(growth(pay_shop, "panel_monitor"))
    low = await boss.wait_for_message(contains="The panel balance is low", timeout=10)
    assert "2.00 USD" in low.text
    await run_panel_check(growth(pay_shop, "panel_monitor"))

    await asyncio.sleep(2.5)  # several alert and notifier cycles
    assert count(boss, "refused by the panel") == 1
    assert count(boss, "New order") == 1
    assert count(boss, "Top-up #") == 1
    assert count(boss, "(warning below") == 1

    await boss.send_text("/alerts")
    screen = await boss.wait_for_message(contains="Owner alerts")
    assert "A new top-up: on" in screen.text
    await boss.press("🔕 Top-ups: turn off", screen)
    switched = await boss.wait_for_message(contains="A new top-up: off", edited=True)
    assert "🔔 Top-ups: turn on" in switched.button_texts
    await stars_top_up(ann, "5")
    await asyncio.sleep(2.0)
    assert count(boss, "Top-up #") == 1


async def test_alert_amount_and_referral_percent_name_the_problem_like_addbalance(pay_shop: PayShop) -> None:
    boss = pay_shop.user(ADMIN_ID, "Boss", username="boss")
    cases = {
        "/alertamount -5": "“-5” is negative: send 0 or more.\nSend an amount, e.g. /alertamount 100.",
        "/alertamount 1.999": "“1.999” can be read two ways",
        "/alertamount 99999999": "“99999999” is too large (max 1000000.00 USD).",
        "/refpercent 150": "“150” is too large (max 100%).\nSend a percent from 0 to 100",
        "/refpercent $5": "“$5” is not a number",
        "/refpercent NaN": "“NaN” is not an amount (NaN and Infinity are refused)",
        "/refpercent": "Send a percent from 0 to 100, e.g. /refpercent 5.",
    }
    for command, reply in cases.items():
        await boss.send_text(command)
        await boss.wait_for_message(contains=reply)
    await boss.send_text("/refpercent 7.5%")
    screen = await boss.wait_for_message(contains="Owner alerts")
    assert "Referral reward: 7.5%" in screen.text
