"""Last line of defence: log the fault, tell the user politely, never show a traceback."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ErrorEvent, User

from bot.i18n import PoI18n, pick_locale, t
from bot.panel import UpstreamUnavailable
from bot.services.users import UserProfile, UserService
from bot.telegram.retry import late_answer
from bot.telegram.routes import Routes

log = logging.getLogger(__name__)
router = Routes("errors")


@router.errors()
async def on_error(
    event: ErrorEvent,
    bot: Bot,
    users: UserService,
    i18n: PoI18n,
    user: UserProfile | None = None,
    event_from_user: User | None = None,
) -> None:
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
    if isinstance(error, TelegramBadRequest) and late_answer(error):
        return  # a button press answered too late: the screen still came (bot/telegram/retry.py)
    if isinstance(error, TelegramBadRequest) and "not modified" in error.message:
        if update.callback_query is not None:  # the screen is already right: stop the spinner
            with contextlib.suppress(TelegramAPIError):
                await update.callback_query.answer()
        return
    log.error("update %s failed: %s", update.update_id, type(error).__name__, exc_info=error)
    # The failed handler's language context is gone by now: set it again for the apology.
    locale = pick_locale(
        user.locale if user else None,
        event_from_user.language_code if event_from_user else None,
        available=i18n.available_locales,
    )
    with i18n.context(), i18n.use_locale(locale):
        text = t("upstream.unavailable" if isinstance(error, UpstreamUnavailable) else "error.generic")
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(text, show_alert=True)
            return
        except TelegramBadRequest:
            pass
    if chat_id is not None:
        try:
            await bot.send_message(chat_id, text)
        except Exception:  # the user must not see a traceback, and neither must the loop
            log.debug("could not tell user %s about an error", chat_id)
