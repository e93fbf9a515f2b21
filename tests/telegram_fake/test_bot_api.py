"""The fake driven by a real aiogram Bot over HTTP: results parse, limits and errors match Telegram."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    MessageId,
    ReplyKeyboardMarkup,
    ReplyParameters,
)
from pydantic import ConfigDict

from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram
from tests.telegram_fake.conftest import keyboard, make_png

USER = 1001


class RawCall(TelegramMethod[Any]):
    """Send arbitrary parameters under any method name (aiogram would refuse to build them)."""

    __returning__: ClassVar[type] = bool
    __api_method__: ClassVar[str] = "sendMessage"

    model_config = ConfigDict(extra="allow")


def raw(method: str, **params: Any) -> RawCall:
    call_type = type(f"Raw_{method}", (RawCall,), {"__api_method__": method})
    return call_type(**params)


def assert_valid_message(tg: FakeTelegramServer, message: Message) -> None:
    """Both aiogram's parse and the spec agree with what the fake returned."""
    tg.spec.validate_object("Message", message.model_dump(mode="json", by_alias=True, exclude_none=True))


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "storefront_test_bot" and me.first_name == "Storefront Test Bot"
    assert me.id == 123456


async def test_send_message_html_round_trip(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER, "Ann", username="ann")
    source = 'Order <b>#42</b> for <a href="https://example.com/o?id=42&amp;x=1">you</a> &lt;3 😀 <i>ok</i>'
    sent = await bot.send_message(USER, source, parse_mode="HTML", reply_markup=keyboard([("Pay", "pay:42")]))
    assert sent.text == "Order #42 for you <3 😀 ok"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 6, 3),
        ("text_link", 14, 3),
        ("italic", 24, 2),
    ]
    # aiogram re-renders entities into HTML (it leaves the URL unescaped)
    assert (
        sent.html_text
        == 'Order <b>#42</b> for <a href="https://example.com/o?id=42&x=1">you</a> &lt;3 😀 <i>ok</i>'
    )
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.chat.id == USER and sent.chat.type == "private" and sent.message_id == 1
    assert_valid_message(tg, sent)
    record = user.last_message
    assert record is not None
    assert record.text == sent.text and record.html == source
    assert record.buttons == [["Pay"]] and record.button_data == [["pay:42"]]
    tg.spec.validate_object("Message", record.to_api())
    second = await bot.send_message(USER, "plain")
    assert second.message_id == 2 and second.entities is None
    tg.assert_no_violations()


async def test_reply_keyboard_and_reply_parameters(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    incoming = await user.send_text("hello")
    markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Catalog")]], resize_keyboard=True)
    sent = await bot.send_message(
        USER, "menu", reply_markup=markup, reply_parameters=ReplyParameters(message_id=incoming.message_id)
    )
    assert sent.reply_to_message is not None and sent.reply_to_message.text == "hello"
    assert user.reply_keyboard is not None and user.reply_keyboard["keyboard"][0][0]["text"] == "Catalog"
    with tg.expect_errors("message to be replied not found"), pytest.raises(TelegramBadRequest):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(message_id=999))
    tg.assert_no_violations()


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("x" * 4097, None, "message is too long"),
        ("<b>" + "x" * 4097 + "</b>", "HTML", "message is too long"),
        ("   ", None, "message text is empty"),
        ("<b></b>", "HTML", "message text is empty"),
        ("1 < 2", "HTML", "can't parse entities: Unsupported start tag"),
        ("<b>unclosed", "HTML", "can't parse entities: Can't find end tag"),
        ("Fish & chips", "HTML", "can't parse entities"),
        ("x", "Klingon", "unsupported parse_mode"),
        ("Total: 10.50", "MarkdownV2", "can't parse entities: Character '.' is reserved"),
    ],
)
async def test_text_limits(
    tg: FakeTelegramServer, bot: Bot, text: str, parse_mode: str | None, error: str
) -> None:
    tg.add_user(USER)
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(USER, text, parse_mode=parse_mode)
    assert len(tg.violations) == 1 and error in tg.violations[0].description
    assert tg.violations[0].method == "sendMessage"
    with pytest.raises(AssertionError, match="1 Telegram API violation"):
        tg.assert_no_violations()


async def test_length_is_measured_after_parsing(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_user(USER)
    sent = await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(sent.text or "") == 4096
    tg.assert_no_violations()


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        (keyboard([("Buy", "x" * 65)]), "BUTTON_DATA_INVALID"),
        (keyboard([("Buy", "é" * 33)]), "BUTTON_DATA_INVALID"),  # 66 bytes, 33 characters
        (keyboard([(str(i), str(i)) for i in range(9)]), "too many buttons in inline keyboard row"),
        (
            keyboard(*[[(str(r * 8 + c), "d") for c in range(8)] for r in range(13)]),
            "reply markup is too long",
        ),
        (keyboard([(" ", "d")]), "text must be non-empty"),
        (
            InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="t")]]),
            "Text buttons are unallowed",
        ),
        (
            InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="t", url="https://a.b", callback_data="c")]]
            ),
            "exactly one of the optional fields",
        ),
        (
            InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="t", url="example.com")]]),
            "BUTTON_URL_INVALID",
        ),
    ],
)
async def test_keyboard_limits(
    tg: FakeTelegramServer, bot: Bot, markup: InlineKeyboardMarkup, error: str
) -> None:
    tg.add_user(USER)
    with tg.expect_errors(error) as caught, pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(USER, "menu", reply_markup=markup)
    assert len(caught) == 1
    tg.assert_no_violations()


async def test_callback_data_of_64_multibyte_bytes_is_fine(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_user(USER)
    await bot.send_message(USER, "ok", reply_markup=keyboard([("Buy", "é" * 32)]))
    await bot.send_message(
        USER, "ok", reply_markup=keyboard(*[[(str(c), "d") for c in range(8)] for _ in range(12)])
    )
    tg.assert_no_violations()


async def test_spec_violations_via_raw_calls(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_user(USER)
    with pytest.raises(TelegramNotFound, match="Not Found"):
        await bot(raw("frobnicate", x=1))
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot(raw("sendMessage", chat_id=USER))
    with pytest.raises(TelegramBadRequest, match='unknown parameter "colour"'):
        await bot(raw("sendMessage", chat_id=USER, text="x", colour="red"))
    with pytest.raises(TelegramBadRequest, match='field "disable_notification" must be of type Boolean'):
        await bot(raw("sendMessage", chat_id=USER, text="x", disable_notification="maybe"))
    with pytest.raises(TelegramBadRequest, match='field "message_id" must be of type Integer'):
        await bot(raw("deleteMessage", chat_id=USER, message_id="first"))
    assert [(v.method, v.error_code) for v in tg.violations] == [
        ("frobnicate", 404),
        ("sendMessage", 400),
        ("sendMessage", 400),
        ("sendMessage", 400),
        ("deleteMessage", 400),
    ]
    assert tg.violations[2].params["colour"] == "red"


async def test_method_names_are_case_insensitive(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_user(USER)
    assert await bot(raw("SENDCHATACTION", chat_id=USER, action="typing")) is True
    assert tg.stats.calls["sendChatAction"] == 1


async def test_edit_message_text_and_not_modified(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    sent = await bot.send_message(USER, "Page 1", reply_markup=keyboard([("Next", "p:2")]))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Page 1", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard([("Next", "p:2")])
        )
    assert tg.stats.not_modified == 1 and not tg.violations
    edited = await bot.edit_message_text("Page 1", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None  # omitted markup removes the keyboard
    assert edited.edit_date is not None
    assert user.last_message is not None and user.last_message.buttons == [] and user.last_message.edited == 1
    again = await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=keyboard([("Back", "p:0")])
    )
    assert isinstance(again, Message) and user.last_message.buttons == [["Back"]]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=USER, message_id=sent.message_id, reply_markup=keyboard([("Back", "p:0")])
        )
    assert tg.stats.not_modified == 2
    tg.assert_no_violations()


async def test_edit_errors(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    incoming = await user.send_text("mine")
    photo = await bot.send_photo(USER, BufferedInputFile(make_png(), "p.png"), caption="cap")
    with tg.expect_errors() as caught:
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=999)
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=incoming.message_id)
        with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
            await bot.edit_message_text("x", chat_id=USER, message_id=photo.message_id)
    assert len(caught) == 3
    edited = await bot.edit_message_caption(
        chat_id=USER, message_id=photo.message_id, caption="<b>new</b>", parse_mode="HTML"
    )
    assert isinstance(edited, Message) and edited.caption == "new" and edited.photo
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(
            chat_id=USER, message_id=photo.message_id, caption="<b>new</b>", parse_mode="HTML"
        )
    tg.assert_no_violations()


async def test_delete_message(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    first = await bot.send_message(USER, "one")
    await bot.send_message(USER, "two")
    assert await bot.delete_message(USER, first.message_id)
    assert [m.text for m in user.messages] == ["two"]
    with tg.expect_errors("message to delete not found"), pytest.raises(TelegramBadRequest):
        await bot.delete_message(USER, first.message_id)
    tg.assert_no_violations()


async def test_retry_after_injection(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    tg.inject_429(count=1, retry_after=7, methods=["sendMessage"])
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER, "hi")
    assert info.value.retry_after == 7
    await bot.send_message(USER, "hi")  # only the next call was affected
    assert [m.text for m in user.messages] == ["hi"]
    tg.inject_error("sendMessage", 500, "Internal Server Error")
    with pytest.raises(Exception, match="Internal Server Error"):
        await bot.send_message(USER, "boom")
    assert tg.stats.retry_after_sent == 1 and tg.stats.injected_errors == 2
    tg.assert_no_violations()


async def test_rate_limit_window() -> None:
    async with run_fake_telegram(rate_limit_per_second=5) as tg:
        tg.add_user(USER)
        bot = tg.create_bot()
        try:
            limited = 0
            for i in range(8):
                try:
                    await bot.send_message(USER, f"m{i}")
                except TelegramRetryAfter as err:
                    assert err.retry_after == 1
                    limited += 1
            assert limited == 3
            assert tg.stats.rate_limited == 3 and tg.stats.sends_per_chat[USER] == 5
            assert tg.stats.max_sends_in_window(1.0) == 5
            assert len(tg.stats.send_timestamps) == 5
            tg.assert_no_violations()
        finally:
            await bot.session.close()


async def test_blocked_user_and_unknown_chat(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    user.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "promo")
    assert tg.stats.blocked == 1 and not tg.violations
    user.unblock_bot()
    await bot.send_message(USER, "welcome back")
    tg.add_user(2002, started=False)
    with tg.expect_errors("chat not found") as caught:
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(2002, "hi")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(777, "hi")
    assert len(caught) == 2
    tg.assert_no_violations()


async def test_send_photo_png_and_file_id(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    png = make_png(3, 2)
    sent = await bot.send_photo(
        USER,
        BufferedInputFile(png, "chart.png"),
        caption="<b>Chart</b>",
        parse_mode="HTML",
        reply_markup=keyboard([("Refresh", "r")]),
    )
    assert sent.photo and sent.photo[-1].width == 3 and sent.photo[-1].height == 2
    assert sent.caption == "Chart" and sent.caption_entities and sent.caption_entities[0].type == "bold"
    assert_valid_message(tg, sent)
    record = user.last_message
    assert record is not None and record.photo == png and record.photo_is_png and record.has_photo
    assert record.text == "Chart" and record.buttons == [["Refresh"]]
    resent = await bot.send_photo(USER, sent.photo[-1].file_id)
    assert user.last_message is not None and user.last_message.photo == png and resent.caption is None
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == png
    with tg.expect_errors("IMAGE_PROCESS_FAILED"), pytest.raises(TelegramBadRequest):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", "x.png"))
    with tg.expect_errors("wrong file identifier"), pytest.raises(TelegramBadRequest):
        await bot.send_photo(USER, "no-such-file-id")
    with tg.expect_errors("message caption is too long"), pytest.raises(TelegramBadRequest):
        await bot.send_photo(USER, sent.photo[-1].file_id, caption="x" * 1025)
    tg.assert_no_violations()


async def test_send_document(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    sent = await bot.send_document(USER, BufferedInputFile(b"id,qty\n1,2\n", "orders.csv"), caption="Export")
    assert sent.document is not None and sent.document.file_name == "orders.csv"
    record = user.last_message
    assert record is not None and record.kind == "document" and record.document_data == b"id,qty\n1,2\n"
    assert_valid_message(tg, sent)
    tg.assert_no_violations()


async def test_copy_and_forward_message(tg: FakeTelegramServer, bot: Bot) -> None:
    customer = tg.add_user(USER, "Customer")
    admin = tg.add_user(9000, "Admin")
    question = await customer.send_text("Where is my order?")
    copied = await bot.copy_message(
        9000, USER, question.message_id, reply_markup=keyboard([("Reply", "r:1001")])
    )
    assert isinstance(copied, MessageId)
    assert admin.last_message is not None and admin.last_message.text == "Where is my order?"
    assert admin.last_message.message_id == copied.message_id and admin.last_message.buttons == [["Reply"]]
    forwarded = await bot.forward_message(9000, USER, question.message_id)
    assert forwarded.forward_origin is not None and forwarded.forward_origin.type == "user"
    assert forwarded.text == "Where is my order?"
    with tg.expect_errors("message to copy not found"), pytest.raises(TelegramBadRequest):
        await bot.copy_message(9000, USER, 999)
    tg.assert_no_violations()


async def test_commands(tg: FakeTelegramServer, bot: Bot) -> None:
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="orders", description="My orders"),
    ]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands(commands[:1], scope=BotCommandScopeChat(chat_id=5), language_code="ru")
    got = await bot.get_my_commands()
    assert [c.command for c in got] == ["start", "orders"]
    assert tg.bot_commands() == [
        {"command": "start", "description": "Start"},
        {"command": "orders", "description": "My orders"},
    ]
    assert [
        c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=5), language_code="ru")
    ] == ["start"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    with tg.expect_errors() as caught:
        for bad in (
            [BotCommand(command="Start", description="x")],
            [BotCommand(command="a" * 33, description="x")],
            [BotCommand(command="ok", description="x" * 257)],
            [BotCommand(command=f"c{i}", description="x") for i in range(101)],
        ):
            with pytest.raises(TelegramBadRequest):
                await bot.set_my_commands(bad)
    assert [e.description for e in caught] == [
        "Bad Request: BOT_COMMAND_INVALID",
        "Bad Request: BOT_COMMAND_INVALID",
        "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID",
        "Bad Request: too many commands",
    ]
    tg.assert_no_violations()


async def test_callback_query_answers(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    await bot.send_message(USER, "menu", reply_markup=keyboard([("Buy", "buy:1"), ("Info", "info")]))
    query = await user.press("Buy")
    assert tg.unanswered_callback_queries() == [query]
    updates = await bot.get_updates()
    callback = updates[-1].callback_query
    assert callback is not None and callback.data == "buy:1" and callback.id == query.id
    assert isinstance(callback.message, Message) and callback.message.text == "menu"
    with tg.expect_errors("MESSAGE_TOO_LONG"), pytest.raises(TelegramBadRequest):
        await bot.answer_callback_query(query.id, text="x" * 201)
    assert await bot.answer_callback_query(query.id, text="Added", show_alert=True)
    assert query.answered and query.answer_text == "Added" and query.show_alert
    assert tg.unanswered_callback_queries() == []
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("123")
    assert [v.method for v in tg.violations] == ["answerCallbackQuery", "answerCallbackQuery"]


async def test_chat_action(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    assert await bot.send_chat_action(USER, "typing")
    assert user.last_action == "typing"
    with tg.expect_errors("wrong parameter action"), pytest.raises(TelegramBadRequest):
        await bot.send_chat_action(USER, "dancing")
    tg.assert_no_violations()


async def test_get_updates_offset_limit_and_long_poll(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    await user.send_text("/start deep-link")
    await user.send_text("two")
    first = await bot.get_updates(limit=1)
    assert len(first) == 1 and first[0].message is not None
    assert first[0].message.text == "/start deep-link"
    entity = (first[0].message.entities or [])[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
    both = await bot.get_updates()
    assert [u.update_id for u in both] == [first[0].update_id, first[0].update_id + 1]
    assert await bot.get_updates(offset=both[-1].update_id + 1) == []  # confirmed
    assert tg.updates == []

    async def later() -> None:
        await asyncio.sleep(0.2)
        await user.send_text("late")

    started = time.monotonic()
    task = asyncio.create_task(later())
    polled = await bot.get_updates(timeout=5)
    await task
    assert 0.15 < time.monotonic() - started < 2
    assert polled and polled[0].message is not None and polled[0].message.text == "late"
    tg.assert_no_violations()


async def test_allowed_updates_filters_future_updates(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER)
    await bot.get_updates(allowed_updates=["callback_query"])
    await user.send_text("ignored")
    assert tg.updates == []
    await bot.get_updates(allowed_updates=[])
    user.block_bot()
    updates = await bot.get_updates()
    assert (
        updates[0].my_chat_member is not None and updates[0].my_chat_member.new_chat_member.status == "kicked"
    )


async def test_wrong_token(tg: FakeTelegramServer) -> None:
    other = Bot("999:WRONG", session=tg.create_bot().session)
    try:
        with tg.expect_errors("Unauthorized"), pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await other.session.close()


async def test_second_long_poll_terminates_the_first(tg: FakeTelegramServer, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    with tg.expect_errors("terminated by other getUpdates request"):
        second = asyncio.create_task(bot.get_updates(timeout=1))
        with pytest.raises(TelegramConflictError):
            await first
        second.cancel()
    tg.assert_no_violations()


async def test_unmodelled_methods_are_validated_and_answered(tg: FakeTelegramServer, bot: Bot) -> None:
    user = tg.add_user(USER, "Ann", username="ann")
    location = await bot.send_location(USER, latitude=51.5, longitude=-0.12)
    assert location.message_id == 1 and user.last_message is not None and user.last_message.kind == "location"
    assert await bot.set_chat_menu_button()  # validated, then plain True
    chat = await bot.get_chat(USER)
    assert chat.first_name == "Ann" and chat.username == "ann" and chat.type == "private"
    album = await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(
                media=BufferedInputFile(make_png(), "a.png"), caption="<b>A</b>", parse_mode="HTML"
            ),
            InputMediaPhoto(media=BufferedInputFile(make_png(4, 4), "b.png")),
        ],
    )
    assert [m.caption for m in album] == ["A", None] and album[0].media_group_id == album[1].media_group_id
    assert [m.photo_is_png for m in user.messages[-2:]] == [True, True]
    with tg.expect_errors("wrong parameter action"), pytest.raises(TelegramBadRequest):
        await bot(raw("sendChatAction", chat_id=USER, action="x"))
    tg.assert_no_violations()
