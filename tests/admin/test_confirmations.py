"""Destructive admin actions ask once more, amount errors name the real problem, and menu commands
typed while an admin question waits are answered as commands (issue #15)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from bot.telegram.callbacks import AdminAdjustCb
from sandbox.telegram_server import FakeUser
from storage.models import LedgerEntry, User
from tests.admin.conftest import Shop, admin_user, customer_card


async def ledger_amounts(shop: Shop, user_id: int) -> list[Decimal]:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        rows = await session.execute(
            select(LedgerEntry.amount).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
        )
        return list(rows.scalars())


async def is_banned(shop: Shop, user_id: int) -> bool:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        found = await session.get(User, user_id, populate_existing=True)
        assert found is not None
        return found.is_banned


async def test_ban_asks_first_no_keeps_yes_bans(shop: Shop) -> None:
    ann, admin, card = await customer_card(shop)

    await admin.press("🚫 Ban", card)
    ask = await admin.wait_for_message(contains="Ban user Ann (id 1001)?", edited=True)
    assert "They will no longer be able to use the bot" in ask.text
    assert await is_banned(shop, 1001) is False  # asking bans nobody
    await admin.press("↩️ No, keep", ask)
    kept = await admin.wait_for_message(contains="id 1001", edited=True)
    assert (await admin.wait_for_answer()).answer_text == "User 1001 was not banned."
    assert "🚫 Ban" in kept.button_texts and "Banned" not in kept.text
    assert await is_banned(shop, 1001) is False
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")

    await admin.press("🚫 Ban", kept)
    ask = await admin.wait_for_message(contains="Ban user Ann", edited=True)
    yes = str(ask.find_button("🚫 Yes, ban")["callback_data"])
    await admin.press("🚫 Yes, ban", ask)
    banned = await admin.wait_for_message(contains="Banned", edited=True)
    assert (await admin.wait_for_answer()).answer_text == "User 1001 is banned."
    assert "✅ Unban" in banned.button_texts
    assert await is_banned(shop, 1001) is True
    await ann.send_text("/start")
    await ann.wait_for_message(contains="not available to you")

    await admin.press_data(yes, banned)  # the same Yes again (a double tap, an old message)
    assert (await admin.wait_for_answer()).answer_text == "User 1001 is banned already."


async def test_takebalance_asks_and_yes_takes_once(shop: Shop) -> None:
    ann = shop.user(1001, "Ann", username="ann")
    await shop.fund(1001, "12")
    admin = admin_user(shop)

    command = await admin.send_text("/takebalance 1001 5 duplicate order")
    ask = await admin.wait_for_message(contains="Take 5.00 USD from user Ann (1001)?")
    assert "Balance 12.00 USD → 7.00 USD." in ask.text and "Reason: duplicate order" in ask.text
    assert ask.button_texts == ["✅ Yes, take", "✖️ No"]
    await admin.assert_no_new_messages(0.2)
    assert await shop.balance(1001) == (Decimal("12.0000"), Decimal("12.0000"))  # nothing yet

    yes = str(ask.find_button("✅ Yes, take")["callback_data"])
    await admin.press("✅ Yes, take", ask)
    done = await admin.wait_for_message(contains="Took 5.00 USD from user 1001", edited=True)
    assert "Their balance: 7.00 USD." in done.text
    await ann.wait_for_message(contains="5.00 USD was deducted from your balance")

    await admin.press_data(yes, done)  # a second Yes on the same confirmation
    again = await admin.wait_for_message(contains="applied already", edited=True)
    assert "Balance of user 1001: 7.00 USD." in again.text
    shop.tg.push_update({"message": command.to_api()})  # the command itself redelivered
    replay = await admin.wait_for_message(contains="Take 5.00 USD from user Ann")
    await admin.press("✅ Yes, take", replay)
    await admin.wait_for_message(contains="applied already", edited=True)
    assert await ledger_amounts(shop, 1001) == [Decimal("12.0000"), Decimal("-5.0000")]
    assert await shop.balance(1001) == (Decimal("7.0000"), Decimal("7.0000"))
    assert len([m for m in ann.messages if "was deducted" in m.text]) == 1

    await admin.send_text("/takebalance 1001 2")
    ask = await admin.wait_for_message(contains="Take 2.00 USD")
    await admin.press("✖️ No", ask)
    await admin.wait_for_message(contains="Cancelled: the balance of user 1001 was not changed.", edited=True)
    await admin.press_data(AdminAdjustCb(token="0123456789ab", msg=ask.message_id, yes=True).pack(), ask)
    await admin.wait_for_message(contains="no longer valid", edited=True)  # a forged token
    await admin.send_text("/takebalance 1001 50")
    await admin.wait_for_message(contains="User 1001 has only 7.00 USD, so 50.00 USD cannot be taken.")
    assert await shop.balance(1001) == (Decimal("7.0000"), Decimal("7.0000"))


async def test_large_addbalance_asks_small_applies_at_once(shop: Shop) -> None:
    shop.user(1001, "Ann")
    await shop.fund(1001, "1")
    admin = admin_user(shop)
    await admin.send_text("/addbalance 1001 100")  # the threshold itself (CONFIRM_CREDIT_ABOVE=100)
    await admin.wait_for_message(contains="Added 100.00 USD to user 1001. Their balance: 101.00 USD.")

    await admin.send_text("/addbalance 1001 5000 big deal")
    ask = await admin.wait_for_message(contains="Add 5000.00 USD to user Ann (1001)?")
    assert "Balance 101.00 USD → 5101.00 USD." in ask.text
    assert await shop.balance(1001) == (Decimal("101.0000"), Decimal("101.0000"))
    await admin.press("✅ Yes, add", ask)
    await admin.wait_for_message(contains="Added 5000.00 USD to user 1001", edited=True)
    assert await shop.balance(1001) == (Decimal("5101.0000"), Decimal("5101.0000"))


async def test_amount_errors_name_the_problem(shop: Shop) -> None:
    shop.user(1001, "Ann", username="ann")
    await shop.fund(1001, "1")
    admin = admin_user(shop)
    cases = {
        "/addbalance 1001 ten": "“ten” is not a number",
        "/addbalance 1001 -5": "“-5” is negative — use /takebalance to take money.",
        "/takebalance 1001 -5": "“-5” is negative — send the amount to take as a positive number",
        "/addbalance 1001 0": "“0” is zero: there is nothing to change.",
        "/addbalance 1001 0.00": "“0.00” is zero",
        "/addbalance 1001 99999999": "“99999999” is too large (max 1000000.00 USD).",
        "/addbalance 1001 1.9999": "“1.9999” has too many decimal places (max 2).",
        "/addbalance 1001 1,000": "“1,000” can be read two ways (a thousands separator, or decimals?). Write 1000 or",
        "/addbalance 1001 1.999": "“1.999” can be read two ways",
        "/addbalance 1001 NaN": "“NaN” is not an amount (NaN and Infinity are refused)",
        "/takebalance 1001 Infinity": "“Infinity” is not an amount (NaN and Infinity are refused)",
        "/addbalance 1001 1e3": "“1e3” is not a number",
    }
    for command, reply in cases.items():
        await admin.send_text(command)
        await admin.wait_for_message(contains=reply)
    await admin.assert_no_new_messages(0.2)
    assert await ledger_amounts(shop, 1001) == [Decimal("1.0000")]

    await admin.send_text("/user 1001")  # the profile's amount prompt says the same
    card = await admin.wait_for_message(contains="id 1001")
    await admin.press("➕ Add balance", card)
    await admin.wait_for_message(contains="Send the amount to add")
    await admin.send_text("-3")
    await admin.wait_for_message(contains="“-3” is negative — use /takebalance")
    await admin.send_text("3.5")
    await admin.wait_for_message(contains="Added 3.50 USD to user 1001")


def kept_lines(user: FakeUser) -> int:
    return sum("What you were doing is kept" in message.text for message in user.messages)


async def test_menu_commands_work_while_an_admin_question_waits(shop: Shop) -> None:
    shop.user(1001, "Ann", username="ann")
    await shop.fund(1001, "4")
    admin = admin_user(shop)

    # the profile's "how much?" prompt
    await admin.send_text("/user 1001")
    card = await admin.wait_for_message(contains="id 1001")
    await admin.press("➖ Take balance", card)
    await admin.wait_for_message(contains="Send the amount to take from user 1001")
    await admin.send_text("/balance")
    await admin.wait_for_message(contains="Your balance")
    await admin.wait_for_message(contains="What you were doing is kept")
    await admin.send_text("/nosuchcommand")
    await admin.wait_for_message(contains="I do not know that command")
    await admin.send_text("/orders")
    await admin.wait_for_message(contains="You have no orders yet")
    await admin.send_text("2")  # the question is still open: the amount is taken as its answer
    ask = await admin.wait_for_message(contains="Take 2.00 USD from user Ann (1001)?")
    assert kept_lines(admin) == 1  # said once for this question, not under every reply
    await admin.press("✅ Yes, take", ask)
    await admin.wait_for_message(contains="Took 2.00 USD", edited=True)

    # broadcast compose
    await admin.send_text("/broadcast")
    await admin.wait_for_message(contains="Send the message")
    await admin.send_text("/orders")
    await admin.wait_for_message(contains="You have no orders yet")
    await admin.wait_for_message(contains="What you were doing is kept")
    await admin.send_text("/unknowncmd")
    await admin.wait_for_message(contains="I do not know that command")
    await admin.assert_no_new_messages(0.2)  # no preview of "/orders" or "/unknowncmd" as a broadcast
    assert kept_lines(admin) == 2  # a new question: said once again

    # the markup prompt (admin catalog settings)
    await admin.send_text("/admin")
    menu = await admin.wait_for_message(contains="Admin console")
    await admin.press("⚙️ Settings", menu)
    screen = await admin.wait_for_message(contains="Shop-wide markup", edited=True)
    await admin.press("💹 Shop-wide markup", screen)
    await admin.wait_for_message(contains="Send the new one in percent")
    await admin.send_text("/balance")
    await admin.wait_for_message(contains="Your balance")
    await admin.send_text("25")
    await admin.wait_for_message(contains="25%")
