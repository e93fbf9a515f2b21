"""Commands work at every step of every form; the reply then says what became of the form.

The forms' free-input handlers skip `/commands` (bot/handlers/order_form.py, catalog.py,
topup.py, admin/*), so a command typed mid-form is answered as that command (or as an unknown
command) by its own router. This middleware, around every message handler, adds one line after a
command that ran inside a form: the form is kept (and what to send to go on), or it was closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject

from bot.handlers.states import OrderForm, SearchForm
from bot.i18n import t
from bot.telegram.callbacks import FormAction, FormCb

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
# Commands whose own reply already says the form is gone (or that start afresh on purpose).
SELF_EXPLAINING = frozenset({"cancel"})


def command_name(text: str) -> str | None:
    """`/orders@shop_bot 5` -> `orders`; None for anything that is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() or None


def kept_note(state: str, data: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup | None]:
    """The line that tells where the kept form stands, with a button back to it when it has one."""
    draft = str(data.get("draft") or "")
    resume = (
        InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("button.resume_form"),
                        callback_data=FormCb(action=FormAction.RESUME, draft=draft).pack(),
                    )
                ]
            ]
        )
        if draft
        else None
    )
    if state == OrderForm.filling.state:
        field = str(data.get("field") or "")
        label = t(f"label.{field}") if field else ""
        return t("kept.order_field", field=label), resume
    if state == OrderForm.confirming.state:
        return t("kept.order_summary"), resume
    if state == SearchForm.query.state:
        return t("kept.search"), None
    return t("kept.other"), None


class FormKeptMiddleware(BaseMiddleware):
    """After a command typed inside a form: one line saying the form is kept or closed."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message) or not event.text:
            return await handler(event, data)
        name = command_name(event.text)
        state: FSMContext | None = data.get("state")
        if name is None or state is None:
            return await handler(event, data)
        before = await state.get_state()
        if before is None:
            return await handler(event, data)
        draft_before = (await state.get_data()).get("draft")
        result = await handler(event, data)
        if name in SELF_EXPLAINING:
            return result
        after = await state.get_state()
        after_data = await state.get_data()
        if after == before and after_data.get("draft") == draft_before:
            text, markup = kept_note(after, after_data)
            await event.answer(text, reply_markup=markup)
        elif before.startswith(OrderForm.__name__) and (after is None or after == SearchForm.query.state):
            await event.answer(t("kept.order_closed"))
        return result
