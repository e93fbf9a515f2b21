"""Confirm places exactly once; refusals refund at once; unknown outcomes wait for the admins."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.telegram.callbacks import FormCb
from storage.models import LedgerKind, Order, OrderState
from storage.repositories.ledger import LedgerRepository
from storage.repositories.orders import OrderRepository
from tests.e2e.conftest import Shop
from tests.e2e.flows import fill_followers_form


async def test_double_tap_and_forged_replay_place_one_order(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    summary = await fill_followers_form(shop)
    confirm = summary.find_button("Confirm")["callback_data"]
    # Two taps in quick succession, then the same button data again later (a retried update).
    await asyncio.gather(ann.press_data(confirm, summary), ann.press_data(confirm, summary))
    await ann.wait_for_message(contains="is placed")
    await ann.press_data(confirm, summary)
    await ann.wait_for_answer()
    assert shop.sim.state.count("add") == 1
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))


async def test_restart_between_summary_and_confirm_places_once(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    summary = await fill_followers_form(shop)
    await shop.restart()
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    await shop.restart()
    await ann.press_data(summary.find_button("Confirm")["callback_data"], summary)
    answer = await ann.wait_for_answer()
    assert "already placed" in (answer.answer_text or "")
    assert shop.sim.state.count("add") == 1


async def test_a_repeat_confirm_of_an_order_still_placing_does_not_call_it_placed(shop: Shop) -> None:
    """A placer that died between the charge and the panel's answer leaves its order "placing":
    charged, not placed. A repeat Confirm of that form finds it, places nothing, and says the truth."""
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    summary = await fill_followers_form(shop)
    assert shop.app is not None
    confirm = summary.find_button("Confirm")["callback_data"]
    async with shop.app.session_factory.begin() as session:  # what the dead placer left behind
        order = await OrderRepository(session).add_new(
            Order(
                user_id=1001,
                draft_key=f"1001:{FormCb.unpack(confirm).draft}",
                service_id="1",
                service_name="Instagram Followers",
                service_type="Default",
                link="https://instagram.com/ann",
                quantity=1000,
                price=Decimal("1.08"),
                cost=Decimal("0.90"),
                state=OrderState.PLACING,
            )
        )
        await LedgerRepository(session).apply(
            user_id=1001,
            amount=Decimal("-1.08"),
            kind=LedgerKind.ORDER_CHARGE,
            key=f"order:{order.id}:charge",
            order_id=order.id,
        )

    await ann.press("Confirm", summary)
    head = await ann.wait_for_message(contains="Order #1 is being placed; you will get a message")
    assert "already placed" not in head.text
    await ann.press_data(confirm, summary)  # once more: the form is gone, the toast says the same
    answer = await ann.wait_for_answer()
    assert "Order #1 is being placed" in (answer.answer_text or "")
    assert shop.sim.state.count("add") == 0
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))  # charged once


async def test_restart_mid_form_continues_where_the_user_was(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await shop.restart()
    await ann.send_text("500")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "https://instagram.com/ann" in summary.text and "500" in summary.text


async def test_upstream_refusal_refunds_and_shows_the_reason(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    # The simulator refuses a second active order on the same link.
    await fill_followers_form(shop)
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")
    await fill_followers_form(shop)
    await ann.press("Confirm")
    refused = await ann.wait_for_message(contains="not accepted")
    assert "already an active order for this link" in refused.text
    assert "went back to your balance" in refused.text
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))


async def test_upstream_timeout_keeps_the_order_for_checking(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop)
    shop.sim.state.inject_fault("add", "hang_after_commit", seconds=3)
    await ann.press("Confirm")
    checking = await ann.wait_for_message(contains="being checked")
    assert "payment is safe" in checking.text
    assert shop.sim.state.count("add") == 1
    assert (await shop.balance(1001))[0] == Decimal("8.9200")  # not refunded blindly


async def test_not_enough_balance_shows_the_shortfall_and_sends_nothing(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "1")
    await fill_followers_form(shop)
    await ann.press("Confirm")
    short = await ann.wait_for_message(contains="Not enough balance")
    assert "costs 1.08 USD" in short.text and "Top up 0.08 USD" in short.text
    assert "Confirm" in " ".join(short.button_texts)  # can confirm again after a top-up
    assert shop.sim.state.count("add") == 0
    await shop.fund(1001, "5")
    await ann.press("Confirm", short)
    await ann.wait_for_message(contains="is placed")
    assert shop.sim.state.count("add") == 1


async def test_a_telegram_error_on_the_placing_screen_does_not_stop_the_order(shop: Shop) -> None:
    """The "placing…" screen goes out while the order is placed; if Telegram refuses it, the
    order still goes through once and its result reaches the user."""
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop)
    shop.tg.inject_error(
        ["editMessageText", "sendMessage"], 400, "Bad Request: message can't be edited", count=2
    )
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")
    assert shop.sim.state.count("add") == 1
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))
