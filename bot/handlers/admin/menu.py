"""The admin menu and the audit log."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.handlers.admin.common import AdminForm
from bot.services.admin.audit import AuditService
from bot.services.users import UserProfile
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.admin import AdminCb, admin_menu, audit_screen

router = Routes("admin.menu")
AUDIT_LINES = 20


async def leave_admin_form(state: FSMContext) -> None:
    """Opening another admin screen ends an admin question in progress (never a customer's form)."""
    current = await state.get_state()
    if current is not None and current.startswith(AdminForm.__name__):
        await state.clear()


@router.message(Command("admin"))
@router.callback_query(AdminCb.filter(F.screen == "menu"))
async def on_menu(
    event: Message | CallbackQuery, state: FSMContext, audit: AuditService, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "admin.menu")
    await show(event, *admin_menu())


@router.message(Command("audit"))
@router.callback_query(AdminCb.filter(F.screen == "audit"))
async def on_audit(event: Message | CallbackQuery, audit: AuditService, user: UserProfile) -> None:
    await audit.record(user.id, "admin.audit")
    await show(event, *audit_screen(await audit.recent(limit=AUDIT_LINES)))
