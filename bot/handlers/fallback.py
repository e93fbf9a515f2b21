"""Whatever no feature took: stale or forged buttons, unknown commands, non-text messages."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.i18n import t
from bot.telegram.routes import Routes
from bot.views.common import main_menu

router = Routes("fallback")


@router.callback_query()
async def on_stale_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    callback_answer.text = t("stale.button")


@router.message()
async def on_anything_else(message: Message) -> None:
    key = "fallback.unknown_command" if (message.text or "").startswith("/") else "fallback.not_understood"
    await message.answer(t(key), reply_markup=main_menu())
