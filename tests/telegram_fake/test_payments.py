"""The fake Bot API's Telegram Stars payments, driven by a real aiogram bot: what Telegram accepts
and refuses, the pre-checkout round trip, refunds and the transaction list, all checked against the
spec (the fixture asserts every result the fake produced matches the spec's return types)."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery

from sandbox.telegram_server import FakeTelegramServer


def payment_router(seen: list[Message], *, refuse: bool = False, silent: bool = False) -> Router:
    router = Router()

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        if silent:
            return
        if refuse:
            await query.answer(ok=False, error_message="Sold out")
        else:
            await query.answer(ok=True)

    @router.message(F.successful_payment | F.refunded_payment)
    async def paid(message: Message) -> None:
        seen.append(message)

    return router


async def send_stars_invoice(bot: Bot, chat_id: int, stars: int = 50, **extra: object) -> Message:
    params: dict[str, object] = {"provider_token": "", **extra}
    return await bot.send_invoice(
        chat_id,
        title="Top-up",
        description="Adds money to the balance",
        payload="topup:1:abcdef0123456789",
        currency="XTR",
        prices=[LabeledPrice(label="Top-up", amount=stars)],
        **params,  # type: ignore[arg-type]
    )


async def test_invoice_pay_and_successful_payment(tg: FakeTelegramServer, bot: Bot) -> None:
    ann = tg.add_user(1001, "Ann")
    seen: list[Message] = []
    dp = Dispatcher()
    dp.include_router(payment_router(seen))
    invoice = await send_stars_invoice(bot, 1001)
    assert invoice.invoice is not None and invoice.invoice.total_amount == 50
    assert invoice.reply_markup is not None and invoice.reply_markup.inline_keyboard[0][0].pay
    async with tg.polling(dp, bot, allowed_updates=dp.resolve_used_update_types()):
        outcome = await ann.pay()
        assert outcome.paid and outcome.payment is not None
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
    payment = seen[0].successful_payment
    assert payment is not None
    assert payment.telegram_payment_charge_id == outcome.payment.charge_id
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
        "XTR",
        50,
        "topup:1:abcdef0123456789",
    )
    page = await bot.get_star_transactions(offset=0, limit=10)
    assert [t.id for t in page.transactions] == [outcome.payment.charge_id]
    assert page.transactions[0].source is not None and page.transactions[0].source.type == "user"
    assert (await bot.get_my_star_balance()).amount == 50

    assert await bot.refund_star_payment(
        user_id=1001, telegram_payment_charge_id=payment.telegram_payment_charge_id
    )
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(
            user_id=1001, telegram_payment_charge_id=payment.telegram_payment_charge_id
        )
    page = await bot.get_star_transactions()
    assert [t.receiver is not None for t in page.transactions] == [False, True]
    assert (await bot.get_my_star_balance()).amount == 0
    assert tg.violations == []  # an already refunded charge is a condition, not a misuse


async def test_a_refused_or_unanswered_pre_checkout_takes_no_money(tg: FakeTelegramServer, bot: Bot) -> None:
    ann = tg.add_user(1001, "Ann")
    seen: list[Message] = []
    for refuse, silent in ((True, False), (False, True)):
        dp = Dispatcher()
        dp.include_router(payment_router(seen, refuse=refuse, silent=silent))
        await send_stars_invoice(bot, 1001)
        async with tg.polling(dp, bot, allowed_updates=dp.resolve_used_update_types()):
            outcome = await ann.pay(answer_timeout=1.0 if silent else 10.0)
        assert not outcome.paid
        assert outcome.error == (
            "Sold out" if refuse else "the bot did not answer the pre-checkout query within 10 seconds"
        )
    assert seen == [] and tg.payments.star_transactions == []


async def test_invalid_invoices_and_answers_are_refused_like_telegram(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_user(1001, "Ann")
    cases = [
        ({"provider_token": "284685063:TEST:abc"}, "PAYMENT_PROVIDER_INVALID"),
        ({"max_tip_amount": 10}, "tips are not supported"),
        (
            {
                "reply_markup": InlineKeyboardMarkup(
                    inline_keyboard=[[InlineKeyboardButton(text="Hi", callback_data="x")]]
                )
            },
            "must be a Pay button",
        ),
    ]
    with tg.expect_errors():
        for extra, error in cases:
            with pytest.raises(TelegramBadRequest, match=error):
                await send_stars_invoice(bot, 1001, **extra)
        with pytest.raises(TelegramBadRequest, match="CURRENCY_TOTAL_AMOUNT_INVALID"):
            await send_stars_invoice(bot, 1001, stars=0)
        with pytest.raises(TelegramBadRequest, match="exactly one price"):
            await bot.send_invoice(
                1001,
                title="T",
                description="D",
                payload="p",
                currency="XTR",
                prices=[LabeledPrice(label="a", amount=1), LabeledPrice(label="b", amount=1)],
            )
        with pytest.raises(TelegramBadRequest, match="INVOICE_PAYLOAD_INVALID"):
            await bot.send_invoice(
                1001,
                title="T",
                description="D",
                payload="x" * 129,
                currency="XTR",
                prices=[LabeledPrice(label="a", amount=1)],
            )
        with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
            await bot.answer_pre_checkout_query("12345", ok=True)
        with pytest.raises(TelegramBadRequest, match="limit"):
            await bot.get_star_transactions(limit=101)
    assert tg.violations == []


async def test_answer_without_an_error_message_is_refused(tg: FakeTelegramServer, bot: Bot) -> None:
    ann = tg.add_user(1001, "Ann")
    await send_stars_invoice(bot, 1001)
    waiting = asyncio.create_task(
        tg.payments.ask_pre_checkout(ann, payload="p", currency="XTR", total_amount=50, answer_timeout=3)
    )
    await asyncio.sleep(0.05)
    query_id = next(iter(tg.payments.pre_checkout_queries))
    with tg.expect_errors("error_message is required"), pytest.raises(TelegramBadRequest):
        await bot.answer_pre_checkout_query(query_id, ok=False)
    assert await bot.answer_pre_checkout_query(query_id, ok=True)
    assert (await waiting).ok is True
