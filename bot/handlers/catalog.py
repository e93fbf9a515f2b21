"""Browsing the catalog: platforms, categories, services, search, the service card."""

from __future__ import annotations

import re

from aiogram import F
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.handlers.states import SearchForm
from bot.i18n import t
from bot.services.catalog import CatalogService
from bot.telegram.callbacks import CategoriesCb, CategoryCb, MenuCb, PlatformCb, SearchPageCb, ServiceCb
from bot.telegram.render import show
from bot.telegram.routes import Routes
from bot.views.catalog import (
    CATEGORIES_PER_PAGE,
    PLATFORM_CATEGORIES_PER_PAGE,
    SERVICES_PER_PAGE,
    categories_screen,
    link_hint,
    platform_screen,
    platforms_screen,
    search_prompt,
    search_screen,
    service_card,
    services_screen,
)

router = Routes("catalog")
SEARCH_QUERY_LIMIT = 100
SERVICE_ID_RE = re.compile(r"[#№]?\s*(\d{1,12})")


async def leave_search(state: FSMContext) -> None:
    """Browsing ends a search prompt, never an order form in progress (bot/handlers/kept.py)."""
    if await state.get_state() == SearchForm.query.state:
        await state.set_state(None)


async def catalog_root(catalog: CatalogService) -> tuple[str, InlineKeyboardMarkup]:
    """The platforms, or straight the categories when every service is on one platform."""
    grouping = await catalog.platforms()
    if grouping.grouped:
        return platforms_screen(grouping)
    return categories_screen(await catalog.categories(0, CATEGORIES_PER_PAGE))


@router.message(Command("services", "catalog"))
async def cmd_services(message: Message, state: FSMContext, catalog: CatalogService) -> None:
    await leave_search(state)
    await show(message, *await catalog_root(catalog))


@router.callback_query(MenuCb.filter(F.screen == "catalog"))
async def on_catalog(query: CallbackQuery, state: FSMContext, catalog: CatalogService) -> None:
    await state.clear()
    await show(query, *await catalog_root(catalog))


@router.callback_query(PlatformCb.filter())
async def on_platform(
    query: CallbackQuery, callback_data: PlatformCb, catalog: CatalogService, callback_answer: CallbackAnswer
) -> None:
    if not (await catalog.platforms()).grouped:  # one platform (left): its categories are the catalog
        await show(
            query, *categories_screen(await catalog.categories(callback_data.page, CATEGORIES_PER_PAGE))
        )
        return
    found = await catalog.platform_categories(
        callback_data.slug, callback_data.page, PLATFORM_CATEGORIES_PER_PAGE
    )
    if found is None:  # a platform with nothing left to sell, or a forged button
        callback_answer.text = t("catalog.platform_gone")
        await show(query, *await catalog_root(catalog))
        return
    await show(query, *platform_screen(callback_data.slug, found))


@router.callback_query(CategoriesCb.filter())
async def on_categories_page(
    query: CallbackQuery, callback_data: CategoriesCb, catalog: CatalogService
) -> None:
    await show(query, *categories_screen(await catalog.categories(callback_data.page, CATEGORIES_PER_PAGE)))


@router.callback_query(CategoryCb.filter())
async def on_category(
    query: CallbackQuery,
    callback_data: CategoryCb,
    catalog: CatalogService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    found = await catalog.services(callback_data.id, callback_data.page, SERVICES_PER_PAGE)
    if found is None:
        callback_answer.text, callback_answer.show_alert = t("catalog.category_gone"), True
        await show(query, *await catalog_root(catalog))
        return
    category, page = found
    await show(query, *services_screen(category, page, settings.currency))


@router.callback_query(ServiceCb.filter())
async def on_service(
    query: CallbackQuery,
    callback_data: ServiceCb,
    catalog: CatalogService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    view = await catalog.service(callback_data.id)
    if view is None:
        callback_answer.text, callback_answer.show_alert = t("service.gone"), True
        return
    await show(query, *service_card(view, settings.currency))


@router.callback_query(MenuCb.filter(F.screen == "search"))
async def on_search(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(SearchForm.query)
    await show(query, *search_prompt())


@router.message(Command("search"))
async def cmd_search(
    message: Message, state: FSMContext, catalog: CatalogService, settings: Settings
) -> None:
    words = (message.text or "").partition(" ")[2].strip()
    if words:
        await run_search(message, state, catalog, settings, words)
        return
    await state.set_state(SearchForm.query)
    await show(message, *search_prompt())


def service_number(text: str) -> str | None:
    """`5`, `#5`, `№5`: a service id typed on its own."""
    match = SERVICE_ID_RE.fullmatch(text.strip())
    return match.group(1) if match else None


async def run_search(
    message: Message, state: FSMContext, catalog: CatalogService, settings: Settings, text: str
) -> None:
    query = " ".join(text.split())[:SEARCH_QUERY_LIMIT]
    if await state.get_state() == SearchForm.query.state:
        await state.set_state(None)
    platform = await catalog.link_platform(text)
    if platform is not None:  # a link with no service chosen: a search would find nothing
        await show(message, *link_hint(platform))
        return
    number = service_number(query)
    if number is not None:
        # A number is a service id first (`5` opens service 5, not "Max 50K"); a search otherwise.
        view = await catalog.service(number)
        if view is not None:
            await show(message, *service_card(view, settings.currency))
            return
    await state.update_data(search_query=query)
    await show(
        message, *search_screen(query, await catalog.search(query, 0, SERVICES_PER_PAGE), settings.currency)
    )


@router.message(StateFilter(SearchForm.query), F.text, ~F.text.startswith("/"))
async def on_search_text(
    message: Message, state: FSMContext, catalog: CatalogService, settings: Settings
) -> None:
    await run_search(message, state, catalog, settings, message.text or "")


@router.callback_query(SearchPageCb.filter())
async def on_search_page(
    query: CallbackQuery,
    callback_data: SearchPageCb,
    state: FSMContext,
    catalog: CatalogService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    words = (await state.get_data()).get("search_query")
    if not words:
        callback_answer.text = t("stale.button")
        return
    page = await catalog.search(words, callback_data.page, SERVICES_PER_PAGE)
    await show(query, *search_screen(words, page, settings.currency))


@router.message(StateFilter(None), F.text, ~F.text.startswith("/"))
async def on_free_text(
    message: Message, state: FSMContext, catalog: CatalogService, settings: Settings
) -> None:
    """Text outside any form is taken as a search: the quickest way to a service."""
    await run_search(message, state, catalog, settings, message.text or "")
