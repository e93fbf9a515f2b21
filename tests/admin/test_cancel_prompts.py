"""/cancel says what it cancelled: an admin asked for an amount or composing a broadcast is not
told "Nothing was ordered"; a customer in an order form still is. Through the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import BroadcastRecipient, LedgerEntry
from tests.admin.conftest import Shop, admin_user, customer_card


async def test_cancel_at_the_admins_amount_question_says_the_balance_is_unchanged(shop: Shop) -> None:
    _, admin, card = await customer_card(shop)
    await admin.press("➕ Add balance", card)
    await admin.wait_for_message(contains="Send the amount to add to user 1001")

    await admin.send_text("/cancel")
    done = await admin.wait_for_message(contains="Cancelled: the balance of user 1001 was not changed.")
    assert "ordered" not in done.text
    assert any("Admin" in label for label in done.button_texts)  # the admin's own menu
    await admin.send_text("5")  # no longer an answer to the question
    await admin.wait_for_message()
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert count == 0


async def test_cancel_while_composing_a_broadcast_says_nothing_was_sent(shop: Shop) -> None:
    admin = admin_user(shop)
    await admin.send_text("/broadcast")
    await admin.wait_for_message(contains="Send the message to broadcast")
    await admin.send_text("/cancel")
    done = await admin.wait_for_message(contains="Broadcast cancelled. Nothing was sent.")
    assert "ordered" not in done.text
    await admin.send_text("Hello everyone")  # not broadcast now
    reply = await admin.wait_for_message()
    assert "This is how your users will see it" not in reply.text
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(BroadcastRecipient))
    assert count == 0


async def test_cancel_in_russian_says_what_was_cancelled(shop: Shop) -> None:
    ivan = shop.user(1002, "Иван", language_code="ru")
    await ivan.send_text("/order 1")
    await ivan.wait_for_message()
    await ivan.send_text("/cancel")
    await ivan.wait_for_message(contains="Отменено. Ничего не заказано.")
    await ivan.send_text("/cancel")
    await ivan.wait_for_message(contains="Отменять нечего.")
