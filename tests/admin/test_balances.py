"""Admins credit and debit balances through the ledger; the customer is told in their language."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from storage.models import LedgerEntry, LedgerKind, User
from tests.admin.conftest import ADMIN_ID, Shop, admin_user, audit_rows


async def ledger(shop: Shop, user_id: int) -> list[LedgerEntry]:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        rows = await session.execute(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
        )
        return list(rows.scalars())


async def test_credit_and_debit_write_ledger_entries_and_tell_the_user(shop: Shop) -> None:
    ann = shop.user(1001, "Ann", username="ann")
    ivan = shop.user(1002, "Иван", language_code="ru")
    for user in (ann, ivan):
        await user.send_text("/start")
        await user.wait_for_message()
    admin = admin_user(shop)

    await admin.send_text("/addbalance 1001 12.50 welcome bonus")
    done = await admin.wait_for_message(contains="Added")
    assert "Added 12.50 USD to user 1001. Their balance: 12.50 USD." in done.text
    assert "The user was told." in done.text
    told = await ann.wait_for_message(contains="was added to your balance")
    assert "12.50 USD" in told.text and "Reason: welcome bonus" in told.text

    await admin.send_text("/addbalance 1002 3")
    await admin.wait_for_message(contains="Added 3.00 USD to user 1002")
    russian = await ivan.wait_for_message(contains="зачислено")
    assert "3.00 USD" in russian.text

    await admin.send_text("/takebalance @ann 20 too much")
    refused = await admin.wait_for_message(contains="cannot be taken")
    assert "User 1001 has only 12.50 USD, so 20.00 USD cannot be taken. Nothing was changed." in refused.text

    await admin.send_text("/takebalance @ann 2.5 correction")
    ask = await admin.wait_for_message(contains="Take 2.50 USD from user")
    await admin.press("✅ Yes, take", ask)
    await admin.wait_for_message(
        contains="Took 2.50 USD from user 1001. Their balance: 10.00 USD.", edited=True
    )
    debit = await ann.wait_for_message(contains="was deducted from your balance")
    assert "2.50 USD" in debit.text and "Balance: 10.00 USD" in debit.text

    entries = await ledger(shop, 1001)
    assert [(e.kind, e.amount, e.actor_id, e.note) for e in entries] == [
        (LedgerKind.ADMIN_CREDIT, Decimal("12.5000"), ADMIN_ID, "welcome bonus"),
        (LedgerKind.ADMIN_DEBIT, Decimal("-2.5000"), ADMIN_ID, "correction"),
    ]
    assert len({e.key for e in entries}) == 2
    assert await shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))
    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "10.00 USD" in wallet.text and "Credited by the shop: +12.50 USD" in wallet.text

    actions = [(row.action, row.args.get("outcome")) for row in await audit_rows(shop)]
    assert actions == [
        ("balance.credit", None),
        ("balance.credit", None),
        ("balance.debit", None),
    ]


async def test_a_redelivered_command_is_applied_once(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "1")
    admin = admin_user(shop)
    command = await admin.send_text("/addbalance 1001 5")
    await admin.wait_for_message(contains="Added 5.00 USD")
    shop.tg.push_update({"message": command.to_api()})  # Telegram delivers the same update again
    again = await admin.wait_for_message(contains="applied already")
    assert "Balance of user 1001: 6.00 USD" in again.text
    assert await shop.balance(1001) == (Decimal("6.0000"), Decimal("6.0000"))
    assert len([m for m in ann.messages if "was added to your balance" in m.text]) == 1


async def test_bad_input_is_explained(shop: Shop) -> None:
    admin = admin_user(shop)
    await admin.send_text("/addbalance")
    await admin.wait_for_message(contains="Usage: /addbalance")
    await admin.send_text("/addbalance 1001 -5")
    await admin.wait_for_message(contains="“-5” is negative — use /takebalance to take money")
    await admin.send_text("/addbalance 1001 1.9999")
    await admin.wait_for_message(contains="“1.9999” has too many decimal places (max 2)")
    await admin.send_text("/addbalance 424242 5")
    await admin.wait_for_message(contains="No user 424242 here")
    assert [(r.action, r.args) for r in await audit_rows(shop)] == [
        ("balance.credit", {"user_id": 424242, "amount": "5.00", "outcome": "no_user"})
    ]


async def test_user_profile_ban_and_unban(shop: Shop) -> None:
    ann = shop.user(1001, "Ann", username="ann")
    await shop.fund(1001, "7")
    await ann.send_text("/start")
    await ann.wait_for_message()
    admin = admin_user(shop)

    await admin.send_text("/user @ann")
    card = await admin.wait_for_message(contains="Ann")
    assert "id 1001" in card.text and "Balance: 7.00 USD" in card.text and "+7.00 USD" in card.text
    await admin.press("🚫 Ban", card)
    ask = await admin.wait_for_message(contains="Ban user Ann (id 1001)?", edited=True)
    await admin.press("🚫 Yes, ban", ask)
    banned = await admin.wait_for_message(contains="Banned", edited=True)
    assert "✅ Unban" in banned.button_texts
    assert (await admin.wait_for_answer()).answer_text == "User 1001 is banned."

    await ann.send_text("/start")
    await ann.wait_for_message(contains="not available to you")  # one polite line, no menu
    await ann.assert_no_new_messages(0.3)

    await admin.press("✅ Unban", banned)
    await admin.wait_for_message(lambda m: "Banned" not in m.text and "Ann" in m.text, edited=True)
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")

    assert shop.app is not None
    async with shop.app.session_factory() as session:
        assert (await session.get(User, 1001, populate_existing=True)).is_banned is False  # type: ignore[union-attr]
    assert [row.action for row in await audit_rows(shop)] == ["user.view", "user.ban", "user.unban"]

    await admin.send_text(f"/user {ADMIN_ID}")
    own = await admin.wait_for_message(contains=f"id {ADMIN_ID}")
    assert "🚫 Ban" not in own.button_texts  # admins cannot be banned


async def test_balance_from_the_menu_buttons(shop: Shop) -> None:
    ann = shop.user(1001, "Ann", username="ann")
    await ann.send_text("/start")
    await ann.wait_for_message()
    admin = admin_user(shop)
    await admin.send_text("/admin")
    menu = await admin.wait_for_message(contains="Admin console")
    await admin.press("👤 Users", menu)
    await admin.wait_for_message(contains="Send the user's id or @username")
    await admin.send_text("@nobody")
    await admin.wait_for_message(contains="No user @nobody here")
    await admin.send_text("@ann")
    card = await admin.wait_for_message(contains="id 1001")
    await admin.press("➕ Add balance", card)
    await admin.wait_for_message(contains="Send the amount to add to user 1001")
    await admin.send_text("ten")
    await admin.wait_for_message(contains="“ten” is not a number")
    await admin.send_text("7.25 loyalty")
    await admin.wait_for_message(contains="Added 7.25 USD to user 1001")
    told = await ann.wait_for_message(contains="was added to your balance")
    assert "Reason: loyalty" in told.text
    await admin.press("➖ Take balance", card)
    await admin.wait_for_message(contains="Send the amount to take from user 1001")
    await admin.send_text("8")
    await admin.wait_for_message(contains="has only 7.25 USD")
    await admin.send_text("7.25")
    ask = await admin.wait_for_message(contains="Take 7.25 USD from user")
    await admin.press("✅ Yes, take", ask)
    await admin.wait_for_message(
        contains="Took 7.25 USD from user 1001. Their balance: 0.00 USD.", edited=True
    )
    assert await shop.balance(1001) == (Decimal("0.0000"), Decimal("0.0000"))


async def test_a_user_back_right_after_blocking_the_bot_is_no_longer_marked_blocked(shop: Shop) -> None:
    """The bot remembers who is writing for a few seconds; a failed message to a user who blocked
    it must reach that memory too, or their next message would not clear the mark."""
    ann = shop.user(1001, "Ann", username="ann")
    await ann.send_text("/start")
    await ann.wait_for_message()
    ann.block_bot()
    admin = admin_user(shop)
    await admin.send_text("/addbalance 1001 5")
    done = await admin.wait_for_message(contains="Added")
    assert "The user was told." not in done.text  # the message to Ann failed with 403
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        assert (await session.get(User, 1001)).blocked_bot is True  # type: ignore[union-attr]
    ann.unblock_bot()
    await ann.send_text("/balance")  # within the profile's few seconds
    await ann.wait_for_message(contains="Your balance")
    async with shop.app.session_factory() as session:
        assert (await session.get(User, 1001)).blocked_bot is False  # type: ignore[union-attr]
