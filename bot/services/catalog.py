"""The catalog customers browse: a local snapshot of the panel's services with our prices."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar, cast

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import PanelClient
from bot.panel.bounds import RATE_PLACES
from bot.services.panel_guard import PanelGuard
from bot.services.platforms import OTHER, pasted_link, platform_of, sort_key
from bot.services.pricing import FLAT_RATE_TYPES, effective_markup, is_flat, price_per_thousand
from bot.services.search_terms import search_groups
from bot.services.upstream_alerts import queue_admin_alert, subject_key
from storage.models import Category, Service, utcnow
from storage.repositories.catalog import CatalogRepository, SyncReport
from storage.repositories.settings import SettingsRepository

log = logging.getLogger(__name__)

MARKUP_SETTING = "markup_percent"
LAST_SYNC_SETTING = "catalog_synced_at"
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class CategoryView:
    category_id: int
    title: str
    services: int
    platform: str = OTHER  # a slug of bot/services/platforms.py


@dataclass(frozen=True)
class PlatformView:
    """One platform of the catalog's first level: how many categories and services it has."""

    slug: str
    categories: int
    services: int


@dataclass(frozen=True)
class PlatformGrouping:
    """The visible catalog grouped by platform, in the panel's order with Other last."""

    platforms: tuple[PlatformView, ...]
    categories: dict[str, tuple[CategoryView, ...]]

    @property
    def grouped(self) -> bool:
        """Worth a level of its own: a small panel selling for one platform skips it."""
        return len(self.platforms) > 1


@dataclass(frozen=True)
class ServiceView:
    """A service as a customer sees it: our name for it and our price."""

    service_id: str
    name: str
    category_id: int
    category: str
    type_key: str
    rate: Decimal
    markup_percent: Decimal
    price_per_1000: Decimal
    min_quantity: int
    max_quantity: int
    dripfeed: bool
    refill: bool
    cancel: bool
    description: str
    average_time: str | None
    # Priced per order (a package), not per 1000 units: PANEL_FLAT_RATE_TYPES decides, for the card,
    # the lists and the charge alike (bot/services/ordering.py).
    flat_rate: bool
    platform: str = OTHER  # the category's platform: which links the order form takes


def category_platform(category: Category) -> str:
    """The owner's choice, else what the panel's (or the shop's) category name says."""
    return platform_of(category.platform, category.name, category.title)


def clamp_page(page: int, total: int, per_page: int) -> tuple[int, int]:
    pages = max(1, math.ceil(total / per_page))
    return min(max(page, 0), pages - 1), pages


# Catalog pages and service cards are read on nearly every update of the order form and change
# only on a sync or an admin edit, which clear this memory at once in this process (another
# instance sees them within VIEWS_TTL, like the shop settings). Prices shown, checked and charged
# come from the same view, so a customer is never charged a price they were not shown.
VIEWS_TTL = 5.0
VIEWS_KEPT = 5_000
_MISSING: Any = object()


class CatalogService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        panel: PanelClient,
        *,
        default_markup: Decimal,
        views_ttl: float = VIEWS_TTL,
        clock: Callable[[], float] = time.monotonic,
        admin_ids: Sequence[int] = (),
        rate_factor: Decimal = Decimal(1),
        guard: PanelGuard | None = None,
        flat_types: Iterable[str] = FLAT_RATE_TYPES,
    ) -> None:
        self.session_factory = session_factory
        self.panel = panel
        self.default_markup = default_markup
        self.flat_types = frozenset(flat_types)  # PANEL_FLAT_RATE_TYPES
        self.admin_ids = tuple(admin_ids)
        self.rate_factor = rate_factor  # PANEL_CURRENCY_RATE: panel money -> shop money
        self.guard = guard
        self._views: TTLCache[tuple[Any, ...], Any] = TTLCache(VIEWS_KEPT, ttl=views_ttl, timer=clock)
        self._logged_rejects: set[str] = set()

    def forget(self) -> None:
        """The catalog or a markup changed: build pages and cards from the database again."""
        self._views.clear()

    async def refresh(self) -> SyncReport:
        """Fetch the panel's list (outside any database session) and store the snapshot.

        An entry with absurd fields is skipped or clamped by the client (bot/panel/bounds.py); each
        one is logged once per process and reported to the admins once ever, and every other
        service syncs.
        """
        catalog = await self.panel.catalog()
        now = utcnow()
        async with self.session_factory.begin() as session:
            report = await CatalogRepository(session).sync(catalog.services)
            await SettingsRepository(session).set(LAST_SYNC_SETTING, now.isoformat())
            for rejected in catalog.rejected:
                alert = "bad_service" if rejected.skipped else "clamped_service"
                subject = subject_key(rejected.service_id, rejected.reason)
                if subject not in self._logged_rejects:
                    self._logged_rejects.add(subject)
                    log.warning(
                        "catalog: service %s %s: %s",
                        rejected.service_id,
                        "skipped" if rejected.skipped else "clamped",
                        rejected.reason,
                    )
                await queue_admin_alert(
                    session,
                    self.admin_ids,
                    alert,
                    subject,
                    {"service": rejected.service_id, "detail": rejected.reason},
                    now,
                )
        self.forget()
        if self.guard is not None:
            await self.guard.note_catalog(catalog.services)
        log.info(
            "catalog synced: %d services, %d added, %d removed, %d changed",
            report.total,
            len(report.added),
            len(report.removed),
            len(report.changed),
        )
        return report

    async def is_empty(self) -> bool:
        async with self.session_factory() as session:
            _, total = await CatalogRepository(session).categories_page(offset=0, limit=1)
            return total == 0

    async def global_markup(self, session: AsyncSession | None = None) -> Decimal:
        if session is None:
            async with self.session_factory() as own:
                return await self.global_markup(own)
        stored = await SettingsRepository(session).get(MARKUP_SETTING)
        if stored is None:
            return self.default_markup
        try:
            return Decimal(stored)
        except InvalidOperation:
            return self.default_markup

    async def set_global_markup(self, percent: Decimal) -> None:
        async with self.session_factory.begin() as session:
            await SettingsRepository(session).set(MARKUP_SETTING, format(percent, "f"))
        self.forget()

    def _view(self, service: Service, category: Category, global_markup: Decimal) -> ServiceView:
        markup = effective_markup(
            service=service.markup_percent, category=category.markup_percent, global_markup=global_markup
        )
        rate = service.rate
        if self.rate_factor != 1:  # the panel's money in the shop's currency, never rounded down
            rate = (rate * self.rate_factor).quantize(RATE_PLACES, rounding=ROUND_CEILING)
        return ServiceView(
            service_id=service.service_id,
            name=service.title or service.name,
            category_id=category.id,
            category=category.title or category.name,
            type_key=service.type_key,
            rate=rate,
            markup_percent=markup,
            price_per_1000=price_per_thousand(rate, markup),
            min_quantity=service.min_quantity,
            max_quantity=service.max_quantity,
            dripfeed=service.dripfeed,
            refill=service.refill,
            cancel=service.cancel,
            description=service.description,
            average_time=service.average_time,
            flat_rate=is_flat(service.type_key, self.flat_types),
            platform=category_platform(category),
        )

    async def _remembered(self, key: tuple[Any, ...], build: Callable[[], Awaitable[T]]) -> T:
        """The view kept under `key`, else `build()` it and keep it (see VIEWS_TTL)."""
        if (known := self._views.get(key, _MISSING)) is not _MISSING:
            return cast(T, known)
        result = await build()
        self._views[key] = result
        return result

    async def categories(self, page: int, per_page: int) -> Page[CategoryView]:
        return await self._remembered(
            ("categories", page, per_page), lambda: self._categories(page, per_page)
        )

    async def _categories(self, page: int, per_page: int) -> Page[CategoryView]:
        async with self.session_factory() as session:
            repo = CatalogRepository(session)
            # One round trip for an existing page; a second only for a page that is out of range.
            rows, total = await repo.categories_page(offset=max(page, 0) * per_page, limit=per_page)
            wanted = page
            page, pages = clamp_page(page, total, per_page)
            if page != wanted:
                rows, total = await repo.categories_page(offset=page * per_page, limit=per_page)
        items = [CategoryView(c.id, c.title or c.name, n, category_platform(c)) for c, n in rows]
        return Page(items, page, pages, total)

    async def platforms(self) -> PlatformGrouping:
        """The first level of the catalog, built with one query and kept like the other views."""
        return await self._remembered(("platforms",), self._platforms)

    async def link_platform(self, text: str) -> str | None:
        """For a link pasted outside a form: the platform (of those on sale, when the catalog is
        grouped by platform) whose categories to offer, `other` for a link we cannot place, None
        when the text is no link (a search then)."""
        slug = pasted_link(text)
        if slug is None or slug == OTHER:
            return slug
        grouping = await self.platforms()
        if grouping.grouped and any(item.slug == slug for item in grouping.platforms):
            return slug
        return OTHER

    async def _platforms(self) -> PlatformGrouping:
        async with self.session_factory() as session:
            rows = await CatalogRepository(session).visible_categories()
        groups: dict[str, list[CategoryView]] = {}
        for category, services in rows:
            view = CategoryView(
                category.id, category.title or category.name, services, category_platform(category)
            )
            groups.setdefault(view.platform, []).append(view)
        order = [slug for _, slug in sorted((sort_key(slug, i), slug) for i, slug in enumerate(groups))]
        platforms = tuple(
            PlatformView(slug, len(groups[slug]), sum(c.services for c in groups[slug])) for slug in order
        )
        return PlatformGrouping(platforms, {slug: tuple(items) for slug, items in groups.items()})

    async def platform_categories(self, slug: str, page: int, per_page: int) -> Page[CategoryView] | None:
        """A platform's categories; None when no visible category is on that platform (any more)."""
        found = (await self.platforms()).categories.get(slug)
        if not found:
            return None
        page, pages = clamp_page(page, len(found), per_page)
        return Page(found[page * per_page : (page + 1) * per_page], page, pages, len(found))

    async def services(
        self, category_id: int, page: int, per_page: int
    ) -> tuple[CategoryView, Page[ServiceView]] | None:
        return await self._remembered(
            ("services", category_id, page, per_page), lambda: self._services(category_id, page, per_page)
        )

    async def _services(
        self, category_id: int, page: int, per_page: int
    ) -> tuple[CategoryView, Page[ServiceView]] | None:
        async with self.session_factory() as session:
            repo = CatalogRepository(session)
            category = await repo.category(category_id)
            if category is None or category.hidden or not category.available:
                return None
            rows, total = await repo.services_page(
                category_id, offset=max(page, 0) * per_page, limit=per_page
            )
            if total == 0:
                return None
            wanted = page
            page, pages = clamp_page(page, total, per_page)
            if page != wanted:
                rows, total = await repo.services_page(category_id, offset=page * per_page, limit=per_page)
            markup = await self.global_markup(session)
        views = [self._view(s, category, markup) for s in rows]
        head = CategoryView(category.id, category.title or category.name, total, category_platform(category))
        return head, Page(views, page, pages, total)

    async def search(self, query: str, page: int, per_page: int) -> Page[ServiceView]:
        """Every typed word must match; a Russian word also matches its English names (лайки: Likes)."""
        async with self.session_factory() as session:
            repo = CatalogRepository(session)
            groups = search_groups(query)
            rows, total = await repo.search(
                query, offset=max(page, 0) * per_page, limit=per_page, groups=groups
            )
            wanted = page
            page, pages = clamp_page(page, total, per_page)
            if page != wanted:
                rows, total = await repo.search(query, offset=page * per_page, limit=per_page, groups=groups)
            markup = await self.global_markup(session)
        views = [self._view(service, category, markup) for service, category in rows]
        return Page(views, page, pages, total)

    async def service(self, service_id: str) -> ServiceView | None:
        """A service customers may order (visible), with its price."""
        return await self._remembered(("service", service_id), lambda: self._service(service_id))

    async def _service(self, service_id: str) -> ServiceView | None:
        async with self.session_factory() as session:
            found = await CatalogRepository(session).get_visible(service_id)
            if found is None:
                return None
            markup = await self.global_markup(session)
        return self._view(found[0], found[1], markup)
