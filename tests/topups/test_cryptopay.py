"""Crypto Pay top-ups end to end: the customer pays in the Crypto Pay simulator; the payment arrives
by signed webhook (webhook mode) or by polling getInvoices (polling mode), and is credited once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import aiohttp
from sqlalchemy import select, update

from bot.payments.cryptopay import sign_body
from sandbox.telegram_server import FakeMessage, FakeUser
from storage.models import TopUp, TopUpStatus, utcnow
from tests.topups.conftest import ADMIN_ID, PayShop, WebhookPayShop


async def crypto_invoice(
    shop: PayShop, user_id: int = 1001, amount: str = "10"
) -> tuple[FakeUser, FakeMessage, TopUp]:
    user = await shop.customer(user_id)
    await user.send_text("/topup")
    await user.wait_for_message(contains="Top up your balance")
    await user.send_text(amount)
    await user.wait_for_message(contains="How would you like to pay")
    await user.press("Crypto")
    message = await user.wait_for_message(contains="Pay in @CryptoBot")
    topup = (await shop.topups.history(user_id))[0]
    return user, message, topup


async def test_crypto_invoice_is_in_fiat_of_the_shop_currency(pay_shop: PayShop) -> None:
    _, message, topup = await crypto_invoice(pay_shop, amount="12.5")
    pay_url = message.find_button("Pay in CryptoBot")["url"]
    invoice = pay_shop.cryptopay.state.invoice(topup.invoice_id or 0)
    assert pay_url.endswith(invoice.hash)
    assert (invoice.currency_type, invoice.fiat, invoice.amount) == ("fiat", "USD", Decimal("12.50"))
    assert invoice.payload == f"topup:{topup.id}:{topup.token}"
    assert invoice.expires_at is not None and invoice.expires_at > utcnow() + timedelta(minutes=50)


async def test_polling_settles_a_paid_invoice_once(pay_shop: PayShop) -> None:
    ann, _, topup = await crypto_invoice(pay_shop)
    await pay_shop.cryptopay.state.pay(topup.invoice_id or 0, asset="TON")
    report = await pay_shop.topups.poll_cryptopay()
    assert report.settled == 1
    credited = await ann.wait_for_message(contains="credited")
    assert "+10.00 USD" in credited.text and "Your balance: 10.00 USD" in credited.text
    assert (await pay_shop.topups.poll_cryptopay()).settled == 0
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))
    paid = await pay_shop.topups.get(topup.id)
    assert paid is not None and paid.status == TopUpStatus.PAID
    assert paid.paid_note is not None and paid.paid_note.endswith("TON")
    assert paid.fee is not None and paid.fee == Decimal("0.3000")  # 3 % of 10 USD in TON, in USD


async def test_i_have_paid_button_checks_at_once(pay_shop: PayShop) -> None:
    ann, message, topup = await crypto_invoice(pay_shop)
    await ann.press("I have paid", message)
    answer = await ann.wait_for_answer()
    assert answer.answer_text is not None and "not arrived yet" in answer.answer_text
    await pay_shop.cryptopay.state.pay(topup.invoice_id or 0)
    await ann.press("I have paid", message)
    credited = await ann.wait_for_message(contains="credited")
    assert "10.00 USD" in credited.text
    await ann.press("Balance", credited)
    await ann.wait_for_message(contains="10.00 USD")
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_webhook_credits_once_however_often_it_is_delivered(webhook_shop: WebhookPayShop) -> None:
    ann, _, topup = await crypto_invoice(webhook_shop)
    state = webhook_shop.cryptopay.state
    await state.pay(topup.invoice_id or 0)
    credited = await ann.wait_for_message(contains="credited")
    assert "+10.00 USD" in credited.text
    assert [d.status for d in state.deliveries] == [200]
    update_id = state.deliveries[0].update_id
    assert await state.redeliver(update_id) == 200
    assert await state.redeliver(update_id) == 200
    assert (await webhook_shop.topups.poll_cryptopay()).settled == 0  # polling agrees, changes nothing
    await ann.assert_no_new_messages(within=0.5)
    assert await webhook_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    webhook_shop: WebhookPayShop,
) -> None:
    ann, _, topup = await crypto_invoice(webhook_shop)
    state = webhook_shop.cryptopay.state
    await state.pay(topup.invoice_id or 0, notify=False)
    body = state.paid_update(state.invoice(topup.invoice_id or 0))
    assert await state.deliver_raw(body, "0" * 64) == 401
    assert await state.deliver_raw(body, sign_body("123:wrong-token", body)) == 401
    tampered = body.replace(b'"amount": "10.00"', b'"amount": "1000.00"')
    assert await state.deliver_raw(tampered, sign_body(state.token, body)) == 401
    url = state.webhook_url or ""
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        assert response.status == 401  # no signature at all
    await ann.assert_no_new_messages(within=0.3)
    assert await webhook_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))
    assert await state.deliver(body) == 200  # the genuine one
    await ann.wait_for_message(contains="credited")
    assert await webhook_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_webhook_for_an_unknown_invoice_answers_200_and_credits_nothing(
    webhook_shop: WebhookPayShop,
) -> None:
    await webhook_shop.customer()
    boss = webhook_shop.user(ADMIN_ID, "Boss")
    state = webhook_shop.cryptopay.state
    status, created = state.dispatch(
        "createInvoice",
        state.token,
        {"currency_type": "fiat", "fiat": "USD", "amount": "3", "payload": "not ours"},
    )
    assert status == 200
    await state.pay(created["result"]["invoice_id"])
    assert [d.status for d in state.deliveries] == [200]  # no retry storm
    alert = await boss.wait_for_message(contains="not credited automatically")
    assert "no top-up of ours" in alert.text
    junk = json.dumps(
        {"update_id": 99, "update_type": "invoice_paid", "payload": {"invoice_id": "x"}}
    ).encode()
    assert await state.deliver_raw(junk, sign_body(state.token, junk)) == 200


async def test_expired_invoice_is_closed_and_a_late_payment_still_credits_once(
    webhook_shop: WebhookPayShop,
) -> None:
    ann, _, topup = await crypto_invoice(webhook_shop)
    assert webhook_shop.app is not None
    async with webhook_shop.app.session_factory.begin() as session:
        await session.execute(update(TopUp).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await webhook_shop.topups.expire_due() == 1
    state = webhook_shop.cryptopay.state
    invoice = state.invoice(topup.invoice_id or 0)
    assert invoice.deleted and state.count("deleteInvoice") == 1  # closed at Crypto Pay too
    closed = await webhook_shop.topups.get(topup.id)
    assert closed is not None and closed.status == TopUpStatus.EXPIRED
    invoice.deleted = False  # the money was on its way when the invoice closed
    await state.pay(topup.invoice_id or 0, late=True)
    credited = await ann.wait_for_message(contains="credited")
    assert "+10.00 USD" in credited.text
    await state.redeliver(state.deliveries[-1].update_id)
    assert (await webhook_shop.topups.poll_cryptopay()).settled == 0
    assert await webhook_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))
    async with webhook_shop.app.session_factory() as session:
        row = (await session.execute(select(TopUp))).scalar_one()
    assert row.status == TopUpStatus.PAID


async def test_late_payment_found_by_polling(pay_shop: PayShop) -> None:
    ann, _, topup = await crypto_invoice(pay_shop)
    assert pay_shop.app is not None
    async with pay_shop.app.session_factory.begin() as session:
        await session.execute(update(TopUp).values(expires_at=utcnow() - timedelta(seconds=1)))
    pay_shop.cryptopay.state.fail("deleteInvoice")  # Crypto Pay down while closing: stays pending
    assert await pay_shop.topups.expire_due() == 0
    assert await pay_shop.topups.expire_due() == 1
    pay_shop.cryptopay.state.invoice(topup.invoice_id or 0).deleted = False
    await pay_shop.cryptopay.state.pay(topup.invoice_id or 0, late=True)
    assert (await pay_shop.topups.poll_cryptopay()).settled == 1
    await ann.wait_for_message(contains="credited")
    assert await pay_shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


async def test_an_invoice_for_another_amount_is_not_credited(webhook_shop: WebhookPayShop) -> None:
    ann, _, topup = await crypto_invoice(webhook_shop)
    boss = webhook_shop.user(ADMIN_ID, "Boss")
    state = webhook_shop.cryptopay.state
    state.invoice(topup.invoice_id or 0).amount = Decimal("1000")  # a provider record that lies
    await state.pay(topup.invoice_id or 0)
    await boss.wait_for_message(contains="not credited automatically")
    await ann.assert_no_new_messages(within=0.3)
    assert await webhook_shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_crypto_pay_down_tells_the_customer_and_opens_nothing(pay_shop: PayShop) -> None:
    pay_shop.cryptopay.state.fail("createInvoice")
    ann = await pay_shop.customer()
    await ann.send_text("/topup")
    await ann.wait_for_message(contains="Top up your balance")
    await ann.send_text("10")
    await ann.wait_for_message(contains="How would you like to pay")
    await ann.press("Crypto")
    await ann.wait_for_message(contains="not answering")
    topups = await pay_shop.topups.history(1001)
    assert [t.status for t in topups] == [TopUpStatus.CANCELLED]
    assert pay_shop.tg.token not in str(pay_shop.cryptopay.state.requests)
