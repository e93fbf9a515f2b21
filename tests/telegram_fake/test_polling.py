"""End to end: a real aiogram Dispatcher polls the fake while the test acts as a user."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from sandbox.telegram_server import FakeTelegramServer, MessageWaitTimeout

USER = 1001


async def test_start_menu_and_paging_by_edits(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER, "Ann")
    await user.send_text("/start")
    menu = await user.wait_for_message(contains="Welcome")
    assert menu.text == "Welcome, friend! Pick a page:"
    assert menu.entities == [{"type": "bold", "offset": 0, "length": 7}]
    assert menu.html == "<b>Welcome</b>, friend! Pick a page:"
    assert menu.buttons == [["Next ▶"], ["Silent", "Alert"]]
    assert menu.button_data == [["page:2"], ["silent", "alert"]]

    await user.press("Next")
    page2 = await user.wait_for_message(contains="Page 2")
    assert page2.message_id == menu.message_id and page2.edited == 1
    assert page2.buttons == [["Next ▶"]]
    await user.wait_for_answer()

    await user.press((0, 0))
    page3 = await user.wait_for_message(edited=True)
    assert page3.text == "Page 3" and page3.edited == 2
    assert [m.text for m in user.messages] == ["Page 3"]  # edits replace, not append
    assert menu.text.startswith("Welcome")  # records are snapshots of their version
    await user.wait_for_answer()  # the handler answers right after editing
    tg.assert_no_violations()
    tg.assert_all_callbacks_answered()


async def test_wait_returns_reactions_to_the_latest_action_only(
    tg: FakeTelegramServer, polling: Dispatcher
) -> None:
    user = tg.add_user(USER)
    await user.send_text("/start")
    await user.wait_for_message(contains="Welcome")
    await user.send_text("a < b & c")
    echo = await user.wait_for_message()
    assert echo.text == "Echo: a < b & c" and echo.html == "Echo: <i>a &lt; b &amp; c</i>"
    # The welcome message happened before the last action: waiting for it again must not return it.
    with pytest.raises(MessageWaitTimeout, match="Echo: a < b"):
        await user.wait_for_message(contains="Welcome", timeout=0.3)
    await user.send_text("one")
    await user.send_text("two")
    # Both replies come after the last action; a filtered wait skips "one" without consuming it.
    two = await user.wait_for_message(contains="two")
    one = await user.wait_for_message(timeout=1)
    assert (two.text, one.text) == ("Echo: two", "Echo: one")
    await user.assert_no_new_messages(within=0.2)
    tg.assert_no_violations()


async def test_waiting_in_order_consumes_each_event_once(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER)
    await user.send_text("/start")
    await user.wait_for_message(contains="Welcome")
    await user.press("Next")
    # The press produces one edit; a second wait must not return the same event again.
    await user.wait_for_message(contains="Page 2")
    with pytest.raises(MessageWaitTimeout):
        await user.wait_for_message(timeout=0.3)


async def test_alert_and_unanswered_callbacks(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER)
    await user.send_text("/start")
    await user.wait_for_message(contains="Welcome")
    alert = await user.press("Alert")
    answered = await user.wait_for_answer(alert)
    assert answered.answer_text == "Out of stock" and answered.show_alert
    silent = await user.press("Silent")
    await asyncio.sleep(0.2)
    assert tg.unanswered_callback_queries() == [silent]
    with pytest.raises(AssertionError, match="unanswered callback queries"):
        tg.assert_all_callbacks_answered()
    with pytest.raises(MessageWaitTimeout, match="not answered"):
        await user.wait_for_answer(silent, timeout=0.1)


async def test_press_errors_list_the_buttons(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER)
    with pytest.raises(LookupError, match="no bot message with an inline keyboard"):
        await user.press("Next")
    await user.send_text("/start")
    menu = await user.wait_for_message(contains="Welcome")
    with pytest.raises(LookupError, match=r"no button matching 'Checkout'.*Silent"):
        await user.press("Checkout")
    with pytest.raises(LookupError, match="2 buttons matching 'l'"):
        await user.press("l", menu)
    with pytest.raises(LookupError, match=r"no button at \(5, 0\)"):
        await user.press((5, 0))


async def test_forged_callback_data(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER)
    await user.send_text("/start")
    menu = await user.wait_for_message(contains="Welcome")
    await user.press_data("page:41", menu)
    assert (await user.wait_for_message(contains="Page")).text == "Page 41"
    tg.assert_no_violations()


async def test_blocked_user_is_not_a_violation(tg: FakeTelegramServer, polling: Dispatcher) -> None:
    user = tg.add_user(USER)
    await user.send_text("hi")
    await user.wait_for_message(contains="Echo")
    user.block_bot()
    await user.send_text("still typing")  # the bot's reply fails with 403 and aiogram logs it
    for _ in range(100):
        if tg.stats.blocked:
            break
        await asyncio.sleep(0.02)
    assert tg.stats.blocked == 1
    tg.assert_no_violations()


async def test_polling_helper_and_group_chats(tg: FakeTelegramServer) -> None:
    """``server.polling`` owns a bot when none is given; bots may also write to registered groups."""
    admins = tg.add_chat(-100500, title="Admins")
    dp = Dispatcher()

    @dp.message()
    async def relay(message: Message, bot: Bot) -> None:
        await bot.send_message(admins.id, f"New message from {message.chat.id}: {message.text}")

    user = tg.add_user(USER)
    async with tg.polling(dp) as bot:
        assert isinstance(bot, Bot)
        before = tg.version
        await user.send_text("help me")
        note = await tg.wait_for_chat_message(admins.id, contains="help me", after_version=before)
        assert note.text == f"New message from {USER}: help me" and note.chat["type"] == "supergroup"
        with pytest.raises(MessageWaitTimeout, match="in chat -100500"):
            await tg.wait_for_chat_message(admins.id, contains="nothing", timeout=0.1)
    assert [m.text for m in admins.bot_messages] == [note.text]
    tg.assert_no_violations()
