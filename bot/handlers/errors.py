"""Last line of defence: log the fault, tell the user politely, never show a traceback."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ErrorEvent

from bot.i18n import t
from bot.panel import UpstreamUnavailable
from bot.services.users import UserService
from bot.telegram.routes import Routes

log = logging.getLogger(__name__)
router = Routes("errors")


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, users: UserService) -> None:
    error = event.exception
    update = event.update
    chat_id: int | None = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        chat_id = update.callback_query.from_user.id
    if isinstance(error, TelegramForbiddenError):
        if chat_id is not None:
            await users.mark_blocked(chat_id)
        return
    if isinstance(error, TelegramBadRequest) and "not modified" in error.message:
        return
    key = "upstream.unavailable" if isinstance(error, UpstreamUnavailable) else "error.generic"
    log.error("update %s failed: %s", update.update_id, type(error).__name__, exc_info=error)
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(t(key), show_alert=True)
            return
        except TelegramBadRequest:
            pass
    if chat_id is not None:
        try:
            await bot.send_message(chat_id, t(key))
        except Exception:  # the user must not see a traceback, and neither must the loop
            log.debug("could not tell user %s about an error", chat_id)
