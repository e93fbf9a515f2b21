"""Catalog screens: categories, a category's services, search results, a service card."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import t, tn
from bot.services.catalog import CategoryView, Page, PlatformGrouping, ServiceView
from bot.services.platforms import BY_SLUG, OTHER
from bot.telegram.callbacks import (
    BuyCb,
    CategoriesCb,
    CategoryCb,
    MenuCb,
    PlatformCb,
    SearchPageCb,
    ServiceCb,
)
from bot.telegram.render import clip, money
from bot.views.common import BUTTON_TEXT_LIMIT, button_label, home_button, nav_row

CATEGORIES_PER_PAGE = 10
# A platform's categories on one page wherever possible: Catalog → platform → category → service
# is then four taps at most (the demo's biggest platform has 49 categories). Telegram allows 100
# buttons a message: 90 categories, the page row (3) and Platforms/Search/Menu (3) fit.
PLATFORM_CATEGORIES_PER_PAGE = 90
PLATFORMS_PER_ROW = 2
SERVICES_PER_PAGE = 8
DESCRIPTION_LIMIT = 1500
NAME_LIMIT = 300


def platform_name(slug: str) -> str:
    """A platform's name for customers: the brand as is, `Other` and the like translated."""
    platform = BY_SLUG.get(slug) or BY_SLUG[OTHER]
    return t(platform.label_key) if platform.label_key else platform.name


def _search_and_home() -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(text=t("button.search"), callback_data=MenuCb(screen="search").pack()),
        home_button(),
    ]


def platforms_screen(grouping: PlatformGrouping) -> tuple[str, InlineKeyboardMarkup]:
    """The catalog's first level: each platform that has services, with its count, Other last."""
    buttons = [
        InlineKeyboardButton(
            text=button_label(f"{platform_name(item.slug)} ({item.services})"),
            callback_data=PlatformCb(slug=item.slug).pack(),
        )
        for item in grouping.platforms
    ]
    rows = [buttons[i : i + PLATFORMS_PER_ROW] for i in range(0, len(buttons), PLATFORMS_PER_ROW)]
    rows.append(_search_and_home())
    total = sum(item.services for item in grouping.platforms)
    return t("catalog.platforms", total=total), InlineKeyboardMarkup(inline_keyboard=rows)


def platform_screen(slug: str, page: Page[CategoryView]) -> tuple[str, InlineKeyboardMarkup]:
    """One platform's categories (with their counts of services)."""
    rows = [
        [
            InlineKeyboardButton(
                text=button_label(f"{item.title} ({item.services})"),
                callback_data=CategoryCb(id=item.category_id).pack(),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page.page, page.pages, lambda n: PlatformCb(slug=slug, page=n)))
    rows.append(
        [
            InlineKeyboardButton(
                text=t("catalog.button.platforms"), callback_data=MenuCb(screen="catalog").pack()
            ),
            *_search_and_home(),
        ]
    )
    text = t(
        "catalog.platform",
        platform=platform_name(slug),
        total=page.total,
        page=page.page + 1,
        pages=page.pages,
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def categories_screen(page: Page[CategoryView]) -> tuple[str, InlineKeyboardMarkup]:
    if page.total == 0:
        return t("catalog.empty"), InlineKeyboardMarkup(inline_keyboard=[[home_button()]])
    rows = [
        [
            InlineKeyboardButton(
                text=button_label(f"{item.title} ({item.services})"),
                callback_data=CategoryCb(id=item.category_id).pack(),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page.page, page.pages, lambda n: CategoriesCb(page=n)))
    rows.append(
        [
            InlineKeyboardButton(text=t("button.search"), callback_data=MenuCb(screen="search").pack()),
            home_button(),
        ]
    )
    text = t("catalog.categories", page=page.page + 1, pages=page.pages, total=page.total)
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def is_package(view: ServiceView) -> bool:
    """Priced per order (a package), not per 1000 units: the configured set decided (`flat_rate`)."""
    return view.flat_rate


def unit_price(view: ServiceView, currency: str) -> str:
    """`0.56 USD/1000`, or `12.99 USD/package` for a package: the unit is always said."""
    key = "price.short_package" if is_package(view) else "price.short_thousand"
    return t(key, price=money(view.price_per_1000, currency))


def _service_button(view: ServiceView, currency: str) -> list[InlineKeyboardButton]:
    """`#5 · name · 0.56 USD/1000`: the id to type next time, the name and the unit price."""
    price = unit_price(view, currency)
    prefix = f"#{view.service_id} · "
    name = clip(" ".join(view.name.split()), BUTTON_TEXT_LIMIT - len(price) - len(prefix) - 3)
    label = button_label(f"{prefix}{name} · {price}")
    return [InlineKeyboardButton(text=label, callback_data=ServiceCb(id=view.service_id).pack())]


def services_screen(
    category: CategoryView, page: Page[ServiceView], currency: str
) -> tuple[str, InlineKeyboardMarkup]:
    rows = [_service_button(view, currency) for view in page.items]
    rows.append(nav_row(page.page, page.pages, lambda n: CategoryCb(id=category.category_id, page=n)))
    rows.append(
        [
            # Back to the category's platform (the whole list when the catalog has only one).
            InlineKeyboardButton(
                text=t("button.back_categories"), callback_data=PlatformCb(slug=category.platform).pack()
            ),
            home_button(),
        ]
    )
    text = tn(
        "catalog.services",
        page.total,
        category=clip(category.title, NAME_LIMIT),
        page=page.page + 1,
        pages=page.pages,
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def search_prompt() -> tuple[str, InlineKeyboardMarkup]:
    return t("search.prompt"), InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def search_screen(query: str, page: Page[ServiceView], currency: str) -> tuple[str, InlineKeyboardMarkup]:
    if page.total == 0:
        text = t("search.nothing", query=clip(query, 100))
        rows = [
            [
                InlineKeyboardButton(text=t("button.catalog"), callback_data=MenuCb(screen="catalog").pack()),
                home_button(),
            ]
        ]
        return text, InlineKeyboardMarkup(inline_keyboard=rows)
    rows = [_service_button(view, currency) for view in page.items]
    rows.append(nav_row(page.page, page.pages, lambda n: SearchPageCb(page=n)))
    rows.append(
        [
            InlineKeyboardButton(text=t("button.catalog"), callback_data=MenuCb(screen="catalog").pack()),
            home_button(),
        ]
    )
    text = tn("search.results", page.total, query=clip(query, 100), page=page.page + 1, pages=page.pages)
    return text, InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def link_hint(platform: str) -> tuple[str, InlineKeyboardMarkup]:
    """A link sent with no service chosen: where to pick one (its platform first, when on sale)."""
    rows: list[list[InlineKeyboardButton]] = []
    if platform != OTHER:
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("button.link_platform", platform=platform_name(platform)),
                    callback_data=PlatformCb(slug=platform).pack(),
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(text=t("button.catalog"), callback_data=MenuCb(screen="catalog").pack()),
            home_button(),
        ]
    )
    return t("search.link"), InlineKeyboardMarkup(inline_keyboard=rows)


def service_card(view: ServiceView, currency: str) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        t("service.title", name=clip(view.name, NAME_LIMIT), id=view.service_id),
        t("service.category", category=clip(view.category, NAME_LIMIT)),
        t("service.price_package", price=money(view.price_per_1000, currency))
        if is_package(view)
        else t("service.price", price=money(view.price_per_1000, currency)),
        t("service.refill_yes") if view.refill else t("service.refill_no"),
        t("service.cancel_yes") if view.cancel else t("service.cancel_no"),
    ]
    if not is_package(view):
        lines.insert(3, t("service.limits", min=view.min_quantity, max=view.max_quantity))
    if view.dripfeed:
        lines.append(t("service.dripfeed"))
    if view.average_time:
        lines.append(t("service.average_time", time=clip(view.average_time, 60)))
    if view.description.strip():
        lines.append("")
        lines.append(t("service.description", text=clip(view.description, DESCRIPTION_LIMIT)))
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("button.order"), callback_data=BuyCb(id=view.service_id).pack())],
            [
                InlineKeyboardButton(
                    text=t("button.back"), callback_data=CategoryCb(id=view.category_id).pack()
                ),
                home_button(),
            ],
        ]
    )
    return "\n".join(lines), markup
