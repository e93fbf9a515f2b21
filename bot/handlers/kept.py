"""Commands work at every step of every form; the reply then says what became of the form.

The forms' free-input handlers skip `/commands` (bot/handlers/order_form.py, catalog.py,
topup.py, admin/*), so a command typed mid-form is answered as that command (or as an unknown
command) by its own router. This middleware, around every message handler, adds one line after a
command that ran inside a form: the form is kept (and what to send to go on), or it was closed.

The order form's line comes after every such command: it names the question waiting (which
changes from step to step) and carries the button back to the draft, the one form whose loss
costs the customer real work. Any other prompt (a top-up amount, the search, an admin's input)
says it once per conversation: after that it is noise under each reply. `NOTED` in the
conversation data remembers the state it was said for; any change of state (the prompt answered,
left, or opened again) forgets it, so the next prompt says it once again.
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
NOTED = "kept_noted"  # the conversation data key: the state whose "kept" line was already said


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


def is_order_form(state: str) -> bool:
    return state.startswith(OrderForm.__name__ + ":")


class FormKeptMiddleware(BaseMiddleware):
    """After a command typed inside a form: a line saying the form is kept or closed (the order
    form's after each command, any other's once). Around button presses too, only to forget that
    the line was said once the state changes."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        state: FSMContext | None = data.get("state")
        if state is None:
            return await handler(event, data)
        before = await state.get_state()
        message = event if isinstance(event, Message) else None
        name = command_name(message.text) if message is not None and message.text else None
        if message is None or name is None or before is None:
            result = await handler(event, data)
            if await state.get_state() != before:
                await forget_noted(state)
            return result
        draft_before = (await state.get_data()).get("draft")
        result = await handler(event, data)
        after = await state.get_state()
        if after != before:
            await forget_noted(state)
        if name in SELF_EXPLAINING:
            return result
        after_data = await state.get_data()
        if after == before and after_data.get("draft") == draft_before:
            if not is_order_form(before):
                if after_data.get(NOTED) == before:
                    return result  # said once already for this prompt
                await state.update_data({NOTED: before})
            text, markup = kept_note(before, after_data)
            await message.answer(text, reply_markup=markup)
        elif is_order_form(before) and (after is None or after == SearchForm.query.state):
            await message.answer(t("kept.order_closed"))
        return result


async def forget_noted(state: FSMContext) -> None:
    """The state changed: a prompt opened from now on is a new conversation, worth one line."""
    values = await state.get_data()
    if NOTED in values:
        await state.set_data({key: value for key, value in values.items() if key != NOTED})
