"""Broadcast: compose (text, photo with caption, or any message copied as is), preview with the
audience to choose, send in the background (BroadcastService), stop."""

from __future__ import annotations

import secrets
from typing import Any

from aiogram import F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.handlers.admin.common import AdminForm
from bot.handlers.admin.menu import leave_admin_form
from bot.i18n import t
from bot.services.admin.audit import AuditService
from bot.services.admin.broadcast import (
    KIND_COPY,
    KIND_PHOTO,
    KIND_TEXT,
    BroadcastService,
    Content,
    EmptyAudience,
)
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCb, BroadcastCb
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.admin import broadcast_controls, broadcast_prompt, broadcasts_screen, only_menu, usage
from storage.repositories.broadcasts import AUDIENCE_ALL, AUDIENCE_BUYERS, active_audience

router = Routes("admin.broadcast")
inputs = Routes("admin.broadcast.inputs")
AUDIENCES = frozenset({AUDIENCE_ALL, AUDIENCE_BUYERS, active_audience(7), active_audience(30)})
MAX_DAYS = 365


def content_of(message: Message) -> Content:
    if message.photo:
        return Content(
            KIND_PHOTO, text=message.html_text if message.caption else None, file_id=message.photo[-1].file_id
        )
    if message.text:
        return Content(KIND_TEXT, text=message.html_text)
    return Content(KIND_COPY, source_chat_id=message.chat.id, source_message_id=message.message_id)


async def prepare(
    message: Message, state: FSMContext, broadcasts: BroadcastService, content: Content
) -> None:
    """Show the admin the message exactly as users will get it, then the audience and Send/Cancel."""
    try:
        await broadcasts.send_preview(content, message.chat.id)
    except TelegramBadRequest as error:
        await state.set_state(AdminForm.broadcast_content)
        await message.answer(t("admin.broadcast.cannot_send", reason=error.message), reply_markup=only_menu())
        return
    draft = secrets.token_hex(4)
    await state.set_state(AdminForm.broadcast_preview)
    await state.set_data({"draft": draft, "content": content.as_dict(), "audience": AUDIENCE_ALL})
    size = await broadcasts.audience_size(AUDIENCE_ALL)
    await show(message, *broadcast_controls(draft, AUDIENCE_ALL, size))


@router.message(Command("broadcast"))
async def cmd_broadcast(
    message: Message, state: FSMContext, broadcasts: BroadcastService, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    parts = message.html_text.split(maxsplit=1)
    await audit.record(user.id, "broadcast.compose")
    if len(parts) > 1 and parts[1].strip():
        await prepare(message, state, broadcasts, Content(KIND_TEXT, text=parts[1].strip()))
        return
    await state.set_state(AdminForm.broadcast_content)
    await show(message, *broadcast_prompt())


@router.callback_query(AdminCb.filter(F.screen == "broadcast"))
async def on_broadcast(
    query: CallbackQuery, state: FSMContext, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "broadcast.compose")
    await state.set_state(AdminForm.broadcast_content)
    await show(query, *broadcast_prompt(), new_message=True)


@router.message(Command("broadcasts"))
async def cmd_broadcasts(
    message: Message, broadcasts: BroadcastService, audit: AuditService, user: UserProfile
) -> None:
    await audit.record(user.id, "broadcast.list")
    await show(message, *broadcasts_screen(await broadcasts.recent()))


@router.callback_query(AdminCb.filter(F.screen == "broadcasts"))
async def on_broadcasts(
    query: CallbackQuery, broadcasts: BroadcastService, audit: AuditService, user: UserProfile
) -> None:
    await audit.record(user.id, "broadcast.list")
    await show(query, *broadcasts_screen(await broadcasts.recent()))


@router.message(Command("stopbroadcast"))
async def cmd_stop(
    message: Message, command: CommandObject, broadcasts: BroadcastService, user: UserProfile
) -> None:
    raw = (command.args or "").strip().lstrip("#")
    if not raw.isdecimal() or len(raw) > 9:  # 9 digits always fit an INTEGER id (more overflowed PostgreSQL)
        await message.answer(usage("stopbroadcast"))
        return
    stopped = await broadcasts.cancel(int(raw), user.id)
    key = "admin.broadcast.stopping" if stopped is not None else "admin.broadcast.not_running"
    await message.answer(t(key, id=raw))


async def current_draft(state: FSMContext, draft: str) -> dict[str, Any] | None:
    if await state.get_state() != AdminForm.broadcast_preview.state:
        return None
    data = await state.get_data()
    return data if data.get("draft") == draft else None


@router.callback_query(BroadcastCb.filter())
async def on_broadcast_button(
    query: CallbackQuery,
    callback_data: BroadcastCb,
    state: FSMContext,
    broadcasts: BroadcastService,
    audit: AuditService,
    user: UserProfile,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.action == "stop":
        stopped = await broadcasts.cancel(callback_data.id, user.id)
        key = "admin.broadcast.stopping" if stopped is not None else "admin.broadcast.not_running"
        callback_answer.text = t(key, id=callback_data.id)
        return
    data = await current_draft(state, callback_data.draft)
    if data is None:
        callback_answer.text = t("stale.button")
        return
    if callback_data.action == "aud" and callback_data.value in AUDIENCES:
        await state.update_data(audience=callback_data.value)
        size = await broadcasts.audience_size(callback_data.value)
        await show(query, *broadcast_controls(callback_data.draft, callback_data.value, size))
    elif callback_data.action == "drop":
        await state.clear()
        await audit.record(user.id, "broadcast.discard")
        await show(query, t("admin.broadcast.dropped"), only_menu())
    elif callback_data.action == "send":
        await state.clear()
        await start(query, broadcasts, user, Content.from_dict(data["content"]), str(data["audience"]))
    else:
        callback_answer.text = t("stale.button")


async def start(
    query: CallbackQuery, broadcasts: BroadcastService, user: UserProfile, content: Content, audience: str
) -> None:
    message = query.message
    chat_id = message.chat.id if message is not None else user.id
    message_id = message.message_id if isinstance(message, Message) else None
    try:
        await broadcasts.start(user.id, content, audience, chat_id=chat_id, message_id=message_id)
    except EmptyAudience:
        await show(query, t("admin.broadcast.empty_audience"), only_menu())


@inputs.message(StateFilter(AdminForm.broadcast_content), ~F.text.startswith("/"))
async def on_content(message: Message, state: FSMContext, broadcasts: BroadcastService) -> None:
    await prepare(message, state, broadcasts, content_of(message))


@inputs.message(StateFilter(AdminForm.broadcast_preview), F.text.regexp(r"^\s*\d{1,3}\s*$"))
async def on_days(message: Message, state: FSMContext, broadcasts: BroadcastService) -> None:
    days = int((message.text or "0").strip())
    if not 1 <= days <= MAX_DAYS:
        await message.answer(t("admin.broadcast.bad_days"))
        return
    audience = active_audience(days)
    data = await state.update_data(audience=audience)
    size = await broadcasts.audience_size(audience)
    await show(message, *broadcast_controls(str(data["draft"]), audience, size))


@inputs.message(StateFilter(AdminForm.broadcast_preview), ~F.text.startswith("/"))
async def on_text_at_preview(message: Message) -> None:
    await message.answer(t("admin.broadcast.use_buttons"))
