"""Showing a screen: edit the pressed message in place, or send a new one; never a traceback."""

from __future__ import annotations

import logging
from decimal import Decimal

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CENT = Decimal("0.01")
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """Cut plain text (before escaping) to at most `limit` characters."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def money(amount: Decimal, currency: str, *, to_cent: bool = False) -> str:
    """`12.50 USD`; drops trailing zeros beyond the cents, keeps precise sub-cent costs.

    `to_cent=True` rounds to the cent first (sums in reports, where sub-cent digits are noise).
    """
    if to_cent:
        amount = amount.quantize(CENT)
    value = amount.quantize(CENT) if amount == amount.quantize(CENT) else amount.normalize()
    return f"{value:f} {currency}"


def percent(value: Decimal) -> str:
    """`5`, `12.5`: a percent without trailing zeros."""
    return f"{value.normalize():f}" if value != value.to_integral_value() else str(int(value))


async def show(
    event: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    new_message: bool = False,
) -> None:
    """Answer a message with a new one; for a button press, edit the message it sits on."""
    if isinstance(event, CallbackQuery):
        message = event.message
        if not new_message and isinstance(message, Message):
            try:
                await message.edit_text(text, reply_markup=markup)
                return
            except TelegramBadRequest as error:
                if "not modified" in error.message:
                    return
                log.debug("could not edit message (%s); sending a new one", error.message)
        if event.message is not None:
            await event.bot.send_message(event.message.chat.id, text, reply_markup=markup)  # type: ignore[union-attr]
        else:
            await event.bot.send_message(event.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
        return
    await event.answer(text, reply_markup=markup)


# Handler flags for aiogram's CallbackAnswerMiddleware (registered in bot/app.py create_dispatcher),
# which answers every button press after its handler: this one answers it before, for a handler
# that takes a while.
ANSWER_FIRST = {"callback_answer": {"pre": True}}


async def answer_query(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press as a coroutine: `asyncio.gather` beside the screen it changes needs
    one (aiogram's method objects are awaitable but unhashable, which gather refuses)."""
    await query.answer(text)
