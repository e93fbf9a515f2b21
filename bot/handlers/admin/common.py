"""Shared pieces of the admin handlers: the admin filter, states, reading a command's arguments."""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject


class IsAdmin(Filter):
    """True for the ids in ADMIN_IDS (UserMiddleware puts `is_admin` into the handler data)."""

    async def __call__(self, event: TelegramObject, is_admin: bool = False) -> bool:
        return is_admin


class InPrivateChat(Filter):
    """The admin console answers only in a private chat with the admin: in a group, `/user 1001`
    would post a customer's card and ledger to everyone there."""

    async def __call__(self, event: TelegramObject) -> bool:
        if isinstance(event, Message):
            return event.chat.type == ChatType.PRIVATE
        if isinstance(event, CallbackQuery):
            return event.message is None or event.message.chat.type == ChatType.PRIVATE
        return False


class AdminForm(StatesGroup):
    broadcast_content = State()
    broadcast_preview = State()
    attach_upstream = State()
    user_lookup = State()
    balance_amount = State()
    welcome = State()
    maintenance = State()
    markup = State()
    refund_amount = State()


def command_args(message: Message) -> str:
    """Plain text after `/command` (the rest of the message, trimmed)."""
    parts = (message.text or message.caption or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def formatted(message: Message, *, after_command: bool) -> str:
    """The message as Telegram HTML: its formatting kept when it has any, else the text as the admin
    typed it (taken as HTML they wrote). `after_command` drops the leading `/command`."""
    has_formatting = any(
        entity.type != "bot_command" for entity in (message.entities or message.caption_entities or [])
    )
    text = message.html_text if has_formatting else (message.text or message.caption or "")
    if after_command:
        parts = text.split(maxsplit=1)
        text = parts[1] if len(parts) > 1 else ""
    return text.strip()
