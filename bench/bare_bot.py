"""The framework's ceiling: a bare aiogram bot that answers every update with one message and one button.

A text message gets a new message with one inline button; a button press is answered and its
message edited (new text, one button) - the same Bot API calls our bot makes for a screen. Same
aiogram, same parse mode and the same INFO logging as `python -m bot`, no database, no
middlewares, no state; aiogram's stock HTTP session and CPython's default garbage collector, as a
plain aiogram bot has them. Run by bench/conversation.py as a subprocess:

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT python bench/bare_bot.py

With BARE_TUNED=1 it gets the generic tuning our bot has, so the ratio can be read without it
too: our HTTP session (bot/telegram/session.py: orjson, reply-model pinning) and our
garbage-collector settings once started (bot/runtime.py).

With WEBHOOK_URL set it serves webhooks instead (aiogram's SimpleRequestHandler, updates handled in
the background like bot/webhook.py) on WEBHOOK_LISTEN_HOST:WEBHOOK_PORT, path WEBHOOK_PATH.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

COUNTER = itertools.count(1)


def one_button() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Next", callback_data="next")]])


def create_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> None:
        await message.answer(
            f"<b>Reply {next(COUNTER)}</b> to {message.text or ''}", reply_markup=one_button()
        )

    @dp.callback_query()
    async def on_press(query: CallbackQuery) -> None:
        if isinstance(query.message, Message):
            await query.message.edit_text(f"<b>Screen {next(COUNTER)}</b>", reply_markup=one_button())
        await query.answer()

    return dp


async def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    api = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])
    tuned = os.environ.get("BARE_TUNED") == "1"
    session = AiohttpSession(api=api)
    if tuned:
        from bot.telegram.session import create_session

        session = create_session(api)
    bot = Bot(
        os.environ["BOT_TOKEN"],
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    dp = create_dispatcher()
    if tuned:
        from bot.runtime import tune_garbage_collector

        dp.startup.register(tune_garbage_collector)
    webhook_url = os.environ.get("WEBHOOK_URL")
    if not webhook_url:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types(), polling_timeout=25)
        return
    secret = "bare-bot-secret"  # noqa: S105 - a local benchmark
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=secret).register(
        app, path=os.environ.get("WEBHOOK_PATH", "/telegram/webhook")
    )
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, os.environ.get("WEBHOOK_LISTEN_HOST", "127.0.0.1"), int(os.environ["WEBHOOK_PORT"])
    )
    await site.start()
    await bot.set_webhook(webhook_url, secret_token=secret, allowed_updates=dp.resolve_used_update_types())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


if __name__ == "__main__":
    asyncio.run(main())
