"""The bot's HTTP session (bot/telegram/session.py) sends and reads exactly what aiogram's does.

It only takes shortcuts for speed; Telegram (here the fake server, which checks every call against
the Bot API spec) must see the same requests, and handlers must get the same replies and errors.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    MessageEntity,
    ReplyKeyboardMarkup,
)

from bot.app import create_bot
from bot.config import load_settings
from bot.telegram.session import StorefrontSession
from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram

USER = 5150


def shop_keyboard(rows: int = 10) -> InlineKeyboardMarkup:
    buttons = [
        [InlineKeyboardButton(text=f"Followers {i} — $1.08 per 1000 <b>", callback_data=f"svc:{i}:0")]
        for i in range(rows)
    ]
    buttons.append(
        [
            InlineKeyboardButton(text="Open the shop site", url="https://example.com/shop?a=1&b=ü"),
            InlineKeyboardButton(text="« Back", callback_data="cat:0"),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=buttons)


def fields(session: AiohttpSession, bot: Bot, method: TelegramMethod[Any]) -> list[tuple[str, Any]]:
    form = session.build_form_data(bot, method)
    return [(options["name"], value) for options, _headers, value in form._fields]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramServer]:
    async with run_fake_telegram() as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
async def shop_bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    settings = load_settings(
        _env_file=None,
        bot_token=tg.token,
        telegram_api_url=tg.base_url,
        panel_api_url="http://127.0.0.1:9/api/v2",
        panel_api_key="k",
    )
    bot = create_bot(settings)
    assert isinstance(bot.session, StorefrontSession)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.mark.parametrize(
    "method",
    [
        SendMessage(chat_id=USER, text="<b>Pick</b> a service", reply_markup=shop_keyboard()),
        EditMessageText(chat_id=USER, message_id=7, text="Page 2", reply_markup=shop_keyboard(3)),
        SendMessage(
            chat_id=USER,
            text="Plain",
            parse_mode=ParseMode.MARKDOWN_V2,
            entities=[MessageEntity(type="bold", offset=0, length=5)],
            link_preview_options=LinkPreviewOptions(is_disabled=True, url=None),
            reply_markup=ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Menu")]], resize_keyboard=True),
        ),
        SendMessage(chat_id=USER, text="defaults only"),  # parse_mode and link preview from the bot
    ],
    ids=["send-keyboard", "edit-keyboard", "nested-models-and-enum", "defaults"],
)
def test_request_bodies_are_aiogram_s_own(method: TelegramMethod[Any]) -> None:
    stock = AiohttpSession()
    ours = StorefrontSession()
    bot = Bot(
        "42:" + "x" * 35,
        session=stock,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    assert fields(ours, bot, method) == fields(stock, bot, method)


def test_nested_dates_and_enums_go_through_aiogram_s_rules() -> None:
    stock, ours = AiohttpSession(), StorefrontSession()
    bot = Bot("42:" + "x" * 35, session=stock)
    when = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
    value = {"a": [1, None, {"b": None, "c": when, "d": ParseMode.HTML}], "e": True, "f": 1.5}
    assert ours.prepare_value(value, bot, {}) == stock.prepare_value(value, bot, {})


async def test_replies_carry_the_keyboard_that_was_shown(tg: FakeTelegramServer, shop_bot: Bot) -> None:
    user = tg.add_user(USER, "Ann")
    keyboard = shop_keyboard()
    sent = await shop_bot.send_message(USER, "<b>Pick</b> a service", reply_markup=keyboard)
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == keyboard.model_dump()
    shown = user.last_message  # what the user sees
    assert shown is not None and shown.reply_markup is not None
    assert shown.reply_markup["inline_keyboard"][0][0]["text"] == "Followers 0 — $1.08 per 1000 <b>"

    smaller = shop_keyboard(2)
    edited = await shop_bot.edit_message_text(
        text="Page 2", chat_id=USER, message_id=sent.message_id, reply_markup=smaller
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Page 2" and edited.reply_markup is not None
    assert edited.reply_markup.model_dump() == smaller.model_dump()
    assert edited.bot is shop_bot


async def test_errors_are_aiogram_s_errors(tg: FakeTelegramServer, shop_bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    keyboard = shop_keyboard(1)
    sent = await shop_bot.send_message(USER, "Same", reply_markup=keyboard)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await shop_bot.edit_message_text(
            text="Same", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard
        )
