"""Telegram Stars top-ups end to end: the customer pays through the fake Bot API, the wallet is
credited exactly once whatever Telegram repeats or loses."""

from __future__ import annotations

from decimal import Decimal

from storage.models import TopUpStatus
from tests.topups.conftest import PayShop


async def test_stars_top_up_credits_the_amount_asked_and_tells_the_balance(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await ann.send_text("/topup")
    menu = await ann.wait_for_message(contains="Top up your balance")
    assert "10.00 USD" in menu.button_texts
    await ann.press("10.00 USD")
    methods = await ann.wait_for_message(contains="How would you like to pay")
    assert any("770 ⭐" in label for label in methods.button_texts)  # ceil(10 / 0.013)
    await ann.press("Telegram Stars")
    invoice = await ann.wait_for_message(lambda m: m.kind == "invoice")
    assert invoice.extra["invoice"]["total_amount"] == 770
    assert invoice.extra["invoice"]["currency"] == "XTR"

    outcome = await ann.pay(invoice)
    assert outcome.paid, outcome.error
    credited = await ann.wait_for_message(contains="credited")
    assert "+10.00 USD" in credited.text
    assert "Your balance: 10.00 USD" in credited.text
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_replayed_successful_payment_credits_once(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await ann.send_text("/topup")
    await ann.wait_for_message(contains="Top up your balance")
    await ann.send_text("12.5")
    await ann.wait_for_message(contains="12.50 USD")
    await ann.press("Telegram Stars")
    invoice = await ann.wait_for_message(lambda m: m.kind == "invoice")
    outcome = await ann.pay(invoice)
    assert outcome.payment is not None
    await ann.wait_for_message(contains="credited")
    pay_shop.tg.payments.replay_successful_payment(outcome.payment)
    pay_shop.tg.payments.replay_successful_payment(outcome.payment)
    await ann.assert_no_new_messages(within=0.8)
    assert await pay_shop.balance(1001) == (Decimal("12.5000"), Decimal("12.5000"))


async def test_paid_invoice_cannot_be_paid_again(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await ann.send_text("/topup")
    await ann.wait_for_message(contains="Top up your balance")
    await ann.press("5.00 USD")
    await ann.wait_for_message(contains="How would you like to pay")
    await ann.press("Telegram Stars")
    invoice = await ann.wait_for_message(lambda m: m.kind == "invoice")
    assert (await ann.pay(invoice)).paid
    await ann.wait_for_message(contains="credited")
    again = await ann.pay(invoice)
    assert not again.paid
    assert again.error is not None and "paid already" in again.error
    assert await pay_shop.balance(1001) == (Decimal("5.0000"), Decimal("5.0000"))
