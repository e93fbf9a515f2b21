"""Shop settings from the admin menu: the welcome message and maintenance mode (no restart needed)."""

from __future__ import annotations

import re
from html import escape as html_escape

from aiogram import F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.handlers.admin.common import AdminForm, formatted
from bot.handlers.admin.menu import leave_admin_form
from bot.i18n import Html, t
from bot.services.admin.audit import AuditService
from bot.services.admin.catalog import CatalogAdmin
from bot.services.admin.settings import MAINTENANCE_LIMIT, WELCOME_LIMIT, ShopAdmin
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCb
from bot.telegram.render import clip, show
from bot.telegram.routes import Routes
from bot.views.admin import only_menu, shop_settings_screen, usage

router = Routes("admin.settings")
inputs = Routes("admin.settings.inputs")
OFF = frozenset({"off", "reset", "-"})


async def settings_view(
    shop_admin: ShopAdmin, catalog_admin: CatalogAdmin
) -> tuple[str, InlineKeyboardMarkup]:
    return shop_settings_screen(
        await catalog_admin.global_markup(), await shop_admin.welcome(), await shop_admin.maintenance()
    )


@router.message(Command("shopsettings"))
async def cmd_settings(
    message: Message,
    shop_admin: ShopAdmin,
    catalog_admin: CatalogAdmin,
    audit: AuditService,
    user: UserProfile,
) -> None:
    await audit.record(user.id, "settings.view")
    await show(message, *await settings_view(shop_admin, catalog_admin))


@router.callback_query(AdminCb.filter(F.screen == "settings"))
async def on_settings(
    query: CallbackQuery,
    state: FSMContext,
    shop_admin: ShopAdmin,
    catalog_admin: CatalogAdmin,
    audit: AuditService,
    user: UserProfile,
) -> None:
    await leave_admin_form(state)
    await audit.record(user.id, "settings.view")
    await show(query, *await settings_view(shop_admin, catalog_admin))


# --- welcome message ----------------------------------------------------------------------------------


# A tag (`<b>`, `</a>`) or an entity (`&amp;`, `&#38;`): the owner wrote HTML on purpose.
LOOKS_LIKE_HTML = re.compile(r"</?[a-zA-Z][^<>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def welcome_html(text: str) -> str:
    """Plain text (`Fast & cheap <3`) is shown as typed, so it is escaped; text with HTML tags or
    entities (or Telegram formatting, which arrives as such) is taken as the HTML it is."""
    return text if LOOKS_LIKE_HTML.search(text) else html_escape(text, quote=False)


async def save_welcome(
    message: Message, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile, html: str
) -> None:
    """Send the text back as the preview: if Telegram accepts it, it is valid HTML and is saved."""
    html = welcome_html(html)
    if len(html) > WELCOME_LIMIT:
        await message.answer(t("admin.welcome.too_long", limit=WELCOME_LIMIT))
        return
    try:
        await message.answer(html)
    except TelegramBadRequest as error:
        await state.set_state(AdminForm.welcome)
        await message.answer(t("admin.welcome.invalid", reason=clip(error.message, 300)))
        return
    await state.clear()
    await shop_admin.set_welcome(user.id, html)
    await message.answer(t("admin.welcome.saved"), reply_markup=only_menu())


@router.message(Command("welcome"))
async def cmd_welcome(message: Message, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile) -> None:
    html = formatted(message, after_command=True)
    if html.lower() in OFF:
        await state.clear()
        await shop_admin.set_welcome(user.id, None)
        await message.answer(t("admin.welcome.reset"), reply_markup=only_menu())
        return
    if html:
        await save_welcome(message, state, shop_admin, user, html)
        return
    await state.set_state(AdminForm.welcome)
    await message.answer(t("admin.welcome.ask"), reply_markup=only_menu())


@router.callback_query(AdminCb.filter(F.screen == "welcome"))
async def on_welcome(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(AdminForm.welcome)
    await show(query, t("admin.welcome.ask"), only_menu(), new_message=True)


@router.callback_query(AdminCb.filter(F.screen == "welcome_reset"))
async def on_welcome_reset(
    query: CallbackQuery, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await shop_admin.set_welcome(user.id, None)
    await show(query, t("admin.welcome.reset"), only_menu())


@inputs.message(StateFilter(AdminForm.welcome), F.text, ~F.text.startswith("/"))
async def on_welcome_text(
    message: Message, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile
) -> None:
    await save_welcome(message, state, shop_admin, user, formatted(message, after_command=False))


# --- maintenance ----------------------------------------------------------------------------------------


async def pause_orders(
    message: Message, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile, text: str
) -> None:
    text = text[:MAINTENANCE_LIMIT]
    await state.clear()
    await shop_admin.set_maintenance(user.id, text)
    await message.answer(t("admin.maintenance.on", text=text), reply_markup=only_menu())


@router.message(Command("maintenance"))
async def cmd_maintenance(
    message: Message, command: CommandObject, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile
) -> None:
    text = (command.args or "").strip()
    if not text:
        current = await shop_admin.maintenance()
        status = (
            t("admin.settings.maintenance_on", text=clip(current, 200))
            if current
            else t("admin.settings.maintenance_off")
        )
        await message.answer(t("admin.maintenance.status", status=Html(status)) + "\n" + usage("maintenance"))
        return
    if text.lower() in OFF:
        await shop_admin.set_maintenance(user.id, None)
        await message.answer(t("admin.maintenance.off"), reply_markup=only_menu())
        return
    await pause_orders(message, state, shop_admin, user, text)


@router.callback_query(AdminCb.filter(F.screen == "maintenance_on"))
async def on_maintenance_on(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(AdminForm.maintenance)
    await show(query, t("admin.maintenance.ask"), only_menu(), new_message=True)


@router.callback_query(AdminCb.filter(F.screen == "maintenance_off"))
async def on_maintenance_off(
    query: CallbackQuery, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile
) -> None:
    await leave_admin_form(state)
    await shop_admin.set_maintenance(user.id, None)
    await show(query, t("admin.maintenance.off"), only_menu())


@inputs.message(StateFilter(AdminForm.maintenance), F.text, ~F.text.startswith("/"))
async def on_maintenance_text(
    message: Message, state: FSMContext, shop_admin: ShopAdmin, user: UserProfile
) -> None:
    await pause_orders(message, state, shop_admin, user, (message.text or "").strip())
