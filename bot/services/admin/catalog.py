"""The catalog as the owner runs it: sync now, hide or show, rename, markups.

Overrides live on the catalog rows (Service/Category hidden, title, markup_percent) and survive
syncs; customers see only visible services, priced with the most specific markup
(service, else category, else the shop-wide one; bot.services.pricing).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.admin.audit import AuditService, write_audit
from bot.services.amounts import AmountError, parse_percent
from bot.services.catalog import CatalogService, Page, category_platform, clamp_page
from bot.services.pricing import effective_markup, is_flat, price_per_thousand
from storage.models import Category, Service
from storage.repositories.admin import AdminCatalogRepository
from storage.repositories.catalog import CatalogRepository, SyncReport

MAX_MARKUP = Decimal("10000")
TITLE_LIMIT = 200


def parse_markup(text: str) -> Decimal | None:
    """`30`, `12.5`, `7,5` or `30%` -> Decimal, 0..MAX_MARKUP, read by the shared percent parser
    (so `1,000` is refused, never taken for 1); None when it is not a markup."""
    try:
        value = parse_percent(text, maximum=MAX_MARKUP)
    except AmountError:
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


@dataclass(frozen=True)
class AdminCategory:
    category_id: int
    name: str
    title: str | None
    hidden: bool
    markup: Decimal | None
    services: int
    hidden_services: int
    platform: str = "other"  # the one customers find it under (bot/services/platforms.py)
    platform_set: bool = False  # chosen by the owner, not read from the name

    @property
    def shown_name(self) -> str:
        return self.title or self.name


@dataclass(frozen=True)
class AdminService:
    service_id: str
    name: str
    title: str | None
    category_id: int
    category: str
    hidden: bool
    category_hidden: bool
    available: bool
    markup: Decimal | None
    category_markup: Decimal | None
    global_markup: Decimal
    effective_markup: Decimal
    rate: Decimal
    price_per_1000: Decimal  # per package for a flat-rate type (`per_package`)
    per_package: bool = False

    @property
    def shown_name(self) -> str:
        return self.title or self.name

    @property
    def visible(self) -> bool:
        return self.available and not self.hidden and not self.category_hidden


def _category(row: Category, services: int = 0, hidden: int = 0) -> AdminCategory:
    return AdminCategory(
        row.id,
        row.name,
        row.title,
        row.hidden,
        row.markup_percent,
        services,
        hidden,
        platform=category_platform(row),
        platform_set=row.platform is not None,
    )


def _service(
    service: Service, category: Category, global_markup: Decimal, flat_types: frozenset[str]
) -> AdminService:
    markup = effective_markup(
        service=service.markup_percent, category=category.markup_percent, global_markup=global_markup
    )
    return AdminService(
        service_id=service.service_id,
        name=service.name,
        title=service.title,
        category_id=category.id,
        category=category.title or category.name,
        hidden=service.hidden,
        category_hidden=category.hidden,
        available=service.available,
        markup=service.markup_percent,
        category_markup=category.markup_percent,
        global_markup=global_markup,
        effective_markup=markup,
        rate=service.rate,
        price_per_1000=price_per_thousand(service.rate, markup),
        per_package=is_flat(service.type_key, flat_types),  # PANEL_FLAT_RATE_TYPES, as the charge
    )


class CatalogAdmin:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], catalog: CatalogService, audit: AuditService
    ) -> None:
        self.session_factory = session_factory
        self.catalog = catalog
        self.audit = audit

    # --- reading -------------------------------------------------------------------------------------

    async def global_markup(self) -> Decimal:
        return await self.catalog.global_markup()

    async def categories(self, page: int, per_page: int) -> Page[AdminCategory]:
        async with self.session_factory() as session:
            repo = AdminCatalogRepository(session)
            _, total = await repo.categories_page(offset=0, limit=0)
            page, pages = clamp_page(page, total, per_page)
            rows, total = await repo.categories_page(offset=page * per_page, limit=per_page)
        return Page([_category(c, n, h) for c, n, h in rows], page, pages, total)

    async def category(
        self, category_id: int, page: int, per_page: int
    ) -> tuple[AdminCategory, Page[AdminService]] | None:
        async with self.session_factory() as session:
            category = await CatalogRepository(session).category(category_id)
            if category is None:
                return None
            repo = AdminCatalogRepository(session)
            _, total = await repo.services_page(category_id, offset=0, limit=0)
            page, pages = clamp_page(page, total, per_page)
            rows, total = await repo.services_page(category_id, offset=page * per_page, limit=per_page)
            markup = await self.catalog.global_markup(session)
        hidden = sum(1 for s in rows if s.hidden)
        return _category(category, total, hidden), Page(
            [_service(s, category, markup, self.catalog.flat_types) for s in rows], page, pages, total
        )

    async def service(self, service_id: str) -> AdminService | None:
        async with self.session_factory() as session:
            found = await CatalogRepository(session).get(service_id)
            if found is None:
                return None
            markup = await self.catalog.global_markup(session)
        return _service(found[0], found[1], markup, self.catalog.flat_types)

    # --- changing --------------------------------------------------------------------------------------

    async def sync(self, admin_id: int) -> SyncReport:
        """Refresh the snapshot from the panel now (raises PanelError when the panel fails)."""
        report = await self.catalog.refresh()
        await self.audit.record(
            admin_id,
            "catalog.sync",
            total=report.total,
            added=len(report.added),
            removed=len(report.removed),
            changed=len(report.changed),
        )
        return report

    async def set_service_hidden(self, admin_id: int, service_id: str, hidden: bool) -> bool:
        return await self._service_override(
            admin_id, "catalog.hide" if hidden else "catalog.show", service_id, hidden=hidden
        )

    async def set_category_hidden(self, admin_id: int, category_id: int, hidden: bool) -> bool:
        return await self._category_override(
            admin_id,
            "catalog.hide_category" if hidden else "catalog.show_category",
            category_id,
            hidden=hidden,
        )

    async def rename_service(self, admin_id: int, service_id: str, title: str | None) -> bool:
        return await self._service_override(admin_id, "catalog.rename", service_id, title=title)

    async def rename_category(self, admin_id: int, category_id: int, title: str | None) -> bool:
        return await self._category_override(admin_id, "catalog.rename_category", category_id, title=title)

    async def set_category_platform(
        self, admin_id: int, category_id: int, platform: str | None
    ) -> str | None:
        """File a category under `platform` (None: as its name says again); syncs keep the choice.
        The platform customers now find it under, or None when there is no such category."""
        if not await self._category_override(admin_id, "catalog.platform", category_id, platform=platform):
            return None
        async with self.session_factory() as session:
            category = await CatalogRepository(session).category(category_id)
        return None if category is None else category_platform(category)

    async def set_service_markup(self, admin_id: int, service_id: str, percent: Decimal | None) -> bool:
        return await self._service_override(
            admin_id, "catalog.markup_service", service_id, markup_percent=percent
        )

    async def set_category_markup(self, admin_id: int, category_id: int, percent: Decimal | None) -> bool:
        return await self._category_override(
            admin_id, "catalog.markup_category", category_id, markup_percent=percent
        )

    async def set_global_markup(self, admin_id: int, percent: Decimal) -> None:
        await self.catalog.set_global_markup(percent)
        await self.audit.record(admin_id, "catalog.markup_global", percent=percent)

    async def _service_override(self, admin_id: int, action: str, service_id: str, **values: object) -> bool:
        async with self.session_factory.begin() as session:
            changed = await CatalogRepository(session).set_service_overrides(service_id, **values)
            if changed:
                await write_audit(session, admin_id, action, service_id=service_id, **values)
        self.catalog.forget()
        return changed

    async def _category_override(
        self, admin_id: int, action: str, category_id: int, **values: object
    ) -> bool:
        async with self.session_factory.begin() as session:
            changed = await CatalogRepository(session).set_category_overrides(category_id, **values)
            if changed:
                await write_audit(session, admin_id, action, category_id=category_id, **values)
        self.catalog.forget()
        return changed
