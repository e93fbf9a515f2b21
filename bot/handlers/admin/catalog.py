"""The catalog for the owner: sync now, hide/show services and categories, rename, markups,
the platform a category is filed under."""

from __future__ import annotations

from decimal import Decimal

from aiogram import F
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.admin.common import AdminForm
from bot.i18n import t
from bot.panel import PanelError
from bot.services.admin.audit import AuditService
from bot.services.admin.catalog import TITLE_LIMIT, CatalogAdmin, parse_markup
from bot.services.platforms import PLATFORMS, parse_platform
from bot.services.users import UserProfile
from bot.telegram.callbacks import AdminCatCb, AdminCb
from bot.telegram.render import ANSWER_FIRST, clip, show
from bot.telegram.routes import Routes
from bot.views.admin import (
    ADMIN_CATEGORIES_PER_PAGE,
    ADMIN_SERVICES_PER_PAGE,
    admin_categories,
    admin_category,
    admin_service,
    only_menu,
    percent,
    platform_label,
    sync_report,
    usage,
)

router = Routes("admin.catalog")
inputs = Routes("admin.catalog.inputs")
SERVICE_ID_LIMIT = 32
RESET = frozenset({"-", "off", "reset", "none"})


def service_id_of(raw: str) -> str | None:
    value = raw.strip().lstrip("#")
    return value if value and len(value) <= SERVICE_ID_LIMIT and value.isalnum() else None


def category_id_of(raw: str) -> int | None:
    value = raw.strip().lstrip("#")
    return int(value) if value.isdigit() and len(value) <= 9 else None


# --- sync ----------------------------------------------------------------------------------------


async def run_sync(event: Message | CallbackQuery, catalog_admin: CatalogAdmin, user: UserProfile) -> None:
    await show(event, t("admin.sync.running"), None)
    try:
        report = await catalog_admin.sync(user.id)
    except PanelError as error:
        text = t("admin.sync.failed", reason=clip(error.message, 200))
    else:
        text = sync_report(report)
    if isinstance(event, CallbackQuery):
        await show(event, text, only_menu())
    else:
        await event.answer(text, reply_markup=only_menu())


@router.message(Command("sync"))
@router.callback_query(AdminCb.filter(F.screen == "sync"), flags=ANSWER_FIRST)  # a sync takes a while
async def on_sync(event: Message | CallbackQuery, catalog_admin: CatalogAdmin, user: UserProfile) -> None:
    await run_sync(event, catalog_admin, user)


# --- hide / show -----------------------------------------------------------------------------------


@router.message(Command("hide", "show"))
async def cmd_hide_show(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    hidden = command.command.lower() == "hide"
    service_id = service_id_of(command.args or "")
    if service_id is None:
        await message.answer(usage("hide" if hidden else "show"))
        return
    if not await catalog_admin.set_service_hidden(user.id, service_id, hidden):
        await message.answer(t("admin.catalog.no_service", id=service_id))
    elif hidden:
        await message.answer(t("admin.catalog.hidden", id=service_id))
    else:
        await message.answer(t("admin.catalog.shown", id=service_id))


@router.message(Command("hidecat", "showcat"))
async def cmd_hide_show_category(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    hidden = command.command.lower() == "hidecat"
    category_id = category_id_of(command.args or "")
    if category_id is None:
        await message.answer(usage("hidecat" if hidden else "showcat"))
        return
    if not await catalog_admin.set_category_hidden(user.id, category_id, hidden):
        await message.answer(t("admin.catalog.no_category", id=category_id))
    elif hidden:
        await message.answer(t("admin.catalog.category_hidden", id=category_id))
    else:
        await message.answer(t("admin.catalog.category_shown", id=category_id))


# --- rename ---------------------------------------------------------------------------------------------


def title_of(raw: str) -> str | None:
    title = " ".join(raw.split())
    return None if title.lower() in RESET else title[:TITLE_LIMIT]


@router.message(Command("rename"))
async def cmd_rename(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    parts = (command.args or "").split(maxsplit=1)
    service_id = service_id_of(parts[0]) if parts else None
    if service_id is None or len(parts) < 2:
        await message.answer(usage("rename"))
        return
    title = title_of(parts[1])
    if not await catalog_admin.rename_service(user.id, service_id, title):
        await message.answer(t("admin.catalog.no_service", id=service_id))
    elif title is None:
        await message.answer(t("admin.catalog.rename_reset", id=service_id))
    else:
        await message.answer(t("admin.catalog.renamed", id=service_id, title=title))


@router.message(Command("renamecat"))
async def cmd_rename_category(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    parts = (command.args or "").split(maxsplit=1)
    category_id = category_id_of(parts[0]) if parts else None
    if category_id is None or len(parts) < 2:
        await message.answer(usage("renamecat"))
        return
    title = title_of(parts[1])
    if not await catalog_admin.rename_category(user.id, category_id, title):
        await message.answer(t("admin.catalog.no_category", id=category_id))
    elif title is None:
        await message.answer(t("admin.catalog.category_rename_reset", id=category_id))
    else:
        await message.answer(t("admin.catalog.category_renamed", id=category_id, title=title))


# --- platform ---------------------------------------------------------------------------------------------

AUTO = frozenset({"auto", *RESET})


@router.message(Command("platform"))
async def cmd_platform(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    parts = (command.args or "").split(maxsplit=1)
    category_id = category_id_of(parts[0]) if parts else None
    if category_id is None or len(parts) < 2:
        await message.answer(usage("platform"))
        return
    auto = parts[1].strip().lower() in AUTO
    chosen = None if auto else parse_platform(parts[1])
    if chosen is None and not auto:
        names = ", ".join(p.slug for p in PLATFORMS)
        await message.answer(t("admin.catalog.platform_bad", value=clip(parts[1], 30), names=names))
        return
    now = await catalog_admin.set_category_platform(user.id, category_id, chosen)
    if now is None:
        await message.answer(t("admin.catalog.no_category", id=category_id))
    elif auto:
        await message.answer(t("admin.catalog.platform_auto", id=category_id, platform=platform_label(now)))
    else:
        await message.answer(t("admin.catalog.platform_set", id=category_id, platform=platform_label(now)))


# --- markup -----------------------------------------------------------------------------------------------


async def set_global(
    message: Message, catalog_admin: CatalogAdmin, user: UserProfile, value: Decimal
) -> None:
    await catalog_admin.set_global_markup(user.id, value)
    await message.answer(t("admin.markup.global_set", percent=percent(value)), reply_markup=only_menu())


@router.message(Command("markup"))
async def cmd_markup(
    message: Message, command: CommandObject, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    parts = (command.args or "").split()
    if not parts:
        current = await catalog_admin.global_markup()
        await message.answer(t("admin.markup.current", percent=percent(current)) + "\n" + usage("markup"))
        return
    if len(parts) == 1:
        value = parse_markup(parts[0])
        if value is None:
            await message.answer(t("admin.markup.bad", value=clip(parts[0], 20)))
            return
        await set_global(message, catalog_admin, user, value)
        return
    scope = parts[0].lower()
    if len(parts) != 3 or scope not in ("cat", "svc"):
        await message.answer(usage("markup"))
        return
    reset = parts[2].lower() in RESET
    value = None if reset else parse_markup(parts[2])
    if value is None and not reset:
        await message.answer(t("admin.markup.bad", value=clip(parts[2], 20)))
        return
    if scope == "cat":
        category_id = category_id_of(parts[1])
        if category_id is None or not await catalog_admin.set_category_markup(user.id, category_id, value):
            await message.answer(t("admin.catalog.no_category", id=clip(parts[1], 20)))
        elif value is None:
            await message.answer(t("admin.markup.category_reset", id=category_id))
        else:
            await message.answer(t("admin.markup.category_set", id=category_id, percent=percent(value)))
        return
    service_id = service_id_of(parts[1])
    if service_id is None or not await catalog_admin.set_service_markup(user.id, service_id, value):
        await message.answer(t("admin.catalog.no_service", id=clip(parts[1], 32)))
    elif value is None:
        await message.answer(t("admin.markup.service_reset", id=service_id))
    else:
        await message.answer(t("admin.markup.service_set", id=service_id, percent=percent(value)))


@router.callback_query(AdminCb.filter(F.screen == "markup"))
async def on_markup(query: CallbackQuery, state: FSMContext, catalog_admin: CatalogAdmin) -> None:
    await state.set_state(AdminForm.markup)
    current = await catalog_admin.global_markup()
    await show(query, t("admin.markup.ask", percent=percent(current)), only_menu(), new_message=True)


@inputs.message(StateFilter(AdminForm.markup), F.text, ~F.text.startswith("/"))
async def on_markup_value(
    message: Message, state: FSMContext, catalog_admin: CatalogAdmin, user: UserProfile
) -> None:
    value = parse_markup(message.text or "")
    if value is None:
        await message.answer(t("admin.markup.bad", value=clip(message.text or "", 20)))
        return
    await state.clear()
    await set_global(message, catalog_admin, user, value)


# --- browsing -----------------------------------------------------------------------------------------------


async def categories_view(event: Message | CallbackQuery, catalog_admin: CatalogAdmin, page: int = 0) -> None:
    found = await catalog_admin.categories(page, ADMIN_CATEGORIES_PER_PAGE)
    await show(event, *admin_categories(found, await catalog_admin.global_markup()))


async def category_view(
    query: CallbackQuery, catalog_admin: CatalogAdmin, category_id: int, page: int, settings: Settings
) -> bool:
    found = await catalog_admin.category(category_id, page, ADMIN_SERVICES_PER_PAGE)
    if found is None:
        return False
    category, services = found
    await show(
        query, *admin_category(category, services, await catalog_admin.global_markup(), settings.currency)
    )
    return True


@router.message(Command("admincatalog"))
async def cmd_admin_catalog(
    message: Message, catalog_admin: CatalogAdmin, audit: AuditService, user: UserProfile
) -> None:
    await audit.record(user.id, "catalog.view")
    await categories_view(message, catalog_admin)


@router.callback_query(AdminCb.filter(F.screen == "catalog"))
async def on_admin_catalog(
    query: CallbackQuery, catalog_admin: CatalogAdmin, audit: AuditService, user: UserProfile
) -> None:
    await audit.record(user.id, "catalog.view")
    await categories_view(query, catalog_admin)


@router.callback_query(AdminCatCb.filter())
async def on_catalog_button(
    query: CallbackQuery,
    callback_data: AdminCatCb,
    catalog_admin: CatalogAdmin,
    user: UserProfile,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    action = callback_data.action
    if action == "cats":
        await categories_view(query, catalog_admin, callback_data.page)
        return
    if action in ("cat", "hidecat", "showcat"):
        category_id = category_id_of(callback_data.id)
        if category_id is not None and action != "cat":
            await catalog_admin.set_category_hidden(user.id, category_id, action == "hidecat")
        if category_id is None or not await category_view(
            query, catalog_admin, category_id, callback_data.page, settings
        ):
            text = t("admin.catalog.no_category", id=clip(callback_data.id, 20))
            callback_answer.text, callback_answer.show_alert = text, True
            return
        return
    service_id = service_id_of(callback_data.id)
    if service_id is not None and action in ("hide", "show"):
        await catalog_admin.set_service_hidden(user.id, service_id, action == "hide")
    item = await catalog_admin.service(service_id) if service_id is not None else None
    if item is None:
        text = t("admin.catalog.no_service", id=clip(callback_data.id, 32))
        callback_answer.text, callback_answer.show_alert = text, True
        return
    await show(query, *admin_service(item, settings.currency))
