"""Telegram Stars top-ups end to end: the customer pays through the fake Bot API, the wallet is
credited exactly once whatever Telegram repeats or loses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from sandbox.telegram_server import FakeMessage, FakeUser
from storage.models import LedgerKind, TopUp, TopUpStatus, utcnow
from storage.repositories.ledger import LedgerRepository
from tests.topups.conftest import ADMIN_ID, PayShop, WebhookPayShop


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


async def stars_invoice(
    shop: PayShop, user_id: int = 1001, amount: str = "10"
) -> tuple[FakeUser, FakeMessage]:
    """A registered customer with a fresh Stars invoice for `amount` USD."""
    user = await shop.customer(user_id)
    await user.send_text("/topup")
    await user.wait_for_message(contains="Top up your balance")
    await user.send_text(amount)
    await user.wait_for_message(contains="How would you like to pay")
    await user.press("Telegram Stars")
    return user, await user.wait_for_message(lambda m: m.kind == "invoice")


async def test_pre_checkout_for_a_wrong_amount_is_refused(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    payload = pay_shop.tg.payments.invoices[(invoice.chat_id, invoice.message_id)]["payload"]
    query = await pay_shop.tg.payments.ask_pre_checkout(ann, payload=payload, currency="XTR", total_amount=1)
    assert query.answered and query.ok is False
    assert query.error_message is not None and "does not match" in query.error_message
    forged = await pay_shop.tg.payments.ask_pre_checkout(
        ann, payload="topup:999:00112233aabbccdd", currency="XTR", total_amount=770
    )
    assert forged.ok is False and forged.error_message and "not valid" in forged.error_message
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_pre_checkout_of_another_users_invoice_is_refused(pay_shop: PayShop) -> None:
    _, invoice = await stars_invoice(pay_shop)
    bob = await pay_shop.customer(1002, "Bob")
    payload = pay_shop.tg.payments.invoices[(invoice.chat_id, invoice.message_id)]["payload"]
    query = await pay_shop.tg.payments.ask_pre_checkout(
        bob, payload=payload, currency="XTR", total_amount=770
    )
    assert query.ok is False


async def test_pre_checkout_of_an_expired_top_up_is_refused(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory.begin() as session:
        await session.execute(update(TopUp).values(expires_at=utcnow() - timedelta(minutes=1)))
    outcome = await ann.pay(invoice)
    assert not outcome.paid
    assert outcome.error is not None and "expired" in outcome.error
    assert await pay_shop.topups.expire_due() == 1
    async with pay_shop.app.session_factory() as session:
        topup = (await session.execute(select(TopUp))).scalar_one()
    assert topup.status == TopUpStatus.EXPIRED
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_a_payment_the_bot_never_heard_of_is_credited_once_by_reconciliation(pay_shop: PayShop) -> None:
    """Telegram took the Stars but the bot crashed before its commit: the update is gone for good.
    At the next start-up getStarTransactions shows the charge, and it is credited once."""
    ann, invoice = await stars_invoice(pay_shop, amount="7")
    outcome = await ann.pay(invoice, deliver=False)
    assert outcome.payment is not None
    await pay_shop.stop()  # the crash
    ann.mark_seen()
    await pay_shop.start()  # start-up reconciliation
    credited = await ann.wait_for_message(contains="credited", timeout=10)
    assert "+7.00 USD" in credited.text
    assert await pay_shop.balance(1001) == (Decimal("7.0000"), Decimal("7.0000"))
    # Later: the periodic run and a late delivery of the same payment change nothing.
    assert (await pay_shop.topups.reconcile_stars()).settled == 0
    pay_shop.tg.payments.replay_successful_payment(outcome.payment)
    await ann.assert_no_new_messages(within=0.8)
    assert await pay_shop.balance(1001) == (Decimal("7.0000"), Decimal("7.0000"))
    async with pay_shop.app.session_factory() as session:  # type: ignore[union-attr]
        topup = (await session.execute(select(TopUp))).scalar_one()
    assert topup.status == TopUpStatus.PAID and topup.charge_id == outcome.payment.charge_id


async def test_reconciliation_skips_refunded_and_foreign_charges(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    outcome = await ann.pay(invoice, deliver=False)
    assert outcome.payment is not None
    outcome.payment.refunded = True  # refunded in Telegram before the bot ever credited it
    pay_shop.tg.payments.star_transactions.append(
        {
            "id": outcome.payment.charge_id,
            "amount": outcome.payment.amount,
            "date": outcome.payment.date,
            "receiver": {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": ann.to_api(),
                "invoice_payload": outcome.payment.payload,
            },
        }
    )
    pay_shop.tg.payments.star_transactions.append(  # not one of our invoices
        {
            "id": "stxOTHER1",
            "amount": 50,
            "date": outcome.payment.date,
            "source": {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": ann.to_api(),
                "invoice_payload": "other",
            },
        }
    )
    assert (await pay_shop.topups.reconcile_stars()).settled == 0
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_refund_debits_once_and_already_refunded_counts_as_done(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    outcome = await ann.pay(invoice)
    assert outcome.payment is not None
    await ann.wait_for_message(contains="credited")
    boss = pay_shop.user(ADMIN_ID, "Boss")
    topup_id = (await pay_shop.topups.history(1001))[0].id

    await boss.send_text(f"/refundtopup {topup_id}")
    done = await boss.wait_for_message(contains="refunded")
    assert "0.00 USD" in done.text
    told = await ann.wait_for_message(contains="was refunded")
    assert "10.00 USD" in told.text
    assert outcome.payment.refunded
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))

    await boss.send_text(f"/refundtopup {topup_id}")
    await boss.wait_for_message(contains="refunded already")
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))
    assert pay_shop.tg.stats.calls["refundStarPayment"] == 1


async def test_refund_after_a_lost_answer_treats_charge_already_refunded_as_done(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    outcome = await ann.pay(invoice)
    assert outcome.payment is not None
    await ann.wait_for_message(contains="credited")
    topup_id = (await pay_shop.topups.history(1001))[0].id
    outcome.payment.refunded = True  # Telegram refunded, but its answer never reached the bot
    result = await pay_shop.topups.refund_stars(topup_id, ADMIN_ID)
    assert result.outcome == "done"
    assert await pay_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_refund_of_a_spent_top_up_is_refused_and_changes_nothing(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    assert (await ann.pay(invoice)).paid
    await ann.wait_for_message(contains="credited")
    topup_id = (await pay_shop.topups.history(1001))[0].id
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory.begin() as session:  # the customer spent 3 of the 10
        await LedgerRepository(session).apply(
            user_id=1001, amount=Decimal("-3"), kind=LedgerKind.ORDER_CHARGE, key="test:spent"
        )
    result = await pay_shop.topups.refund_stars(topup_id, ADMIN_ID)
    assert result.outcome == "spent"
    assert pay_shop.tg.stats.calls["refundStarPayment"] == 0
    assert await pay_shop.balance(1001) == (Decimal("7.0000"), Decimal("7.0000"))
    assert (await pay_shop.topups.get(topup_id)).status == TopUpStatus.PAID  # type: ignore[union-attr]


async def test_stars_in_webhook_mode_and_a_replay_credit_once(webhook_shop: WebhookPayShop) -> None:
    ann, invoice = await stars_invoice(webhook_shop, amount="9")
    outcome = await ann.pay(invoice)
    assert outcome.payment is not None, outcome.error
    await ann.wait_for_message(contains="+9.00 USD")
    webhook_shop.tg.payments.replay_successful_payment(outcome.payment)
    await ann.assert_no_new_messages(within=0.8)
    assert await webhook_shop.balance(1001) == (Decimal("9.0000"), Decimal("9.0000"))


async def test_a_refund_made_outside_the_shop_is_reported_to_the_admins(pay_shop: PayShop) -> None:
    ann, invoice = await stars_invoice(pay_shop)
    outcome = await ann.pay(invoice)
    assert outcome.payment is not None
    await ann.wait_for_message(contains="credited")
    boss = pay_shop.user(ADMIN_ID, "Boss")
    refund = {
        "currency": "XTR",
        "total_amount": outcome.payment.amount,
        "invoice_payload": outcome.payment.payload,
        "telegram_payment_charge_id": outcome.payment.charge_id,
    }
    pay_shop.tg.push_update(
        {
            "message": {
                "message_id": 900,
                "date": 1_700_000_000,
                "chat": {"id": 1001, "type": "private", "first_name": "Ann"},
                "from": ann.to_api(),
                "refunded_payment": refund,
            }
        }
    )
    alert = await boss.wait_for_message(contains="outside the shop")
    assert "#1 (10.00 USD)" in alert.text and "/takebalance" in alert.text
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))  # left to the owner
