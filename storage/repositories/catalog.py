"""The local catalog snapshot: sync from the panel's list, browse, search.

Customers browse this snapshot, never the panel, so a click costs one indexed query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Category, Service, utcnow


class ServiceData(Protocol):
    """What a sync needs of one upstream service (bot.panel.PanelService fits)."""

    @property
    def service_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def type_key(self) -> str: ...
    @property
    def rate(self) -> Decimal: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def dripfeed(self) -> bool: ...
    @property
    def refill(self) -> bool: ...
    @property
    def cancel(self) -> bool: ...
    @property
    def description(self) -> str: ...
    @property
    def average_time(self) -> str | None: ...


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    total: int = 0


_TRACKED = (
    "name",
    "category",
    "type",
    "type_key",
    "rate",
    "min_quantity",
    "max_quantity",
    "dripfeed",
    "refill",
    "cancel",
    "description",
    "average_time",
)


def fold(text: str) -> str:
    """Case and the letter ё set aside (Russian writes «ё» and «е» for the same word)."""
    return text.casefold().replace("ё", "е")


def search_text(*parts: str | None) -> str:
    return " ".join(fold(part) for part in parts if part)


def service_search_text(service: Service, category: Category) -> str:
    """What a search matches: the id, the panel's names and the shop's own (renamed) names."""
    return search_text(service.service_id, service.name, service.title, category.name, category.title)


def _contains(term: str) -> ColumnElement[bool]:
    """A substring match on the casefolded search text, LIKE's wildcards taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Service.search_text.like(f"%{escaped}%", escape="\\")


def visible_service() -> ColumnElement[bool]:
    return and_(
        Service.available.is_(True),
        Service.hidden.is_(False),
        Category.hidden.is_(False),
    )


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sync(self, services: Sequence[ServiceData]) -> SyncReport:
        """Upsert the panel's list; services missing from it become unavailable (kept for old orders)."""
        report = SyncReport(total=len(services))
        now = utcnow()
        categories = {c.name: c for c in (await self.session.execute(select(Category))).scalars()}
        existing = {s.service_id: s for s in (await self.session.execute(select(Service))).scalars()}
        seen_categories: set[str] = set()
        seen: set[str] = set()
        for position, item in enumerate(services):
            if item.service_id in seen:
                continue  # a panel listing one id twice: first one wins
            seen.add(item.service_id)
            category = categories.get(item.category)
            if category is None:
                category = Category(name=item.category, position=len(categories), available=True)
                self.session.add(category)
                categories[item.category] = category
                await self.session.flush()
            if item.category not in seen_categories:
                seen_categories.add(item.category)
                category.position = len(seen_categories)
                category.available = True
            values = {
                "name": item.name,
                "category": item.category,
                "type": item.type,
                "type_key": item.type_key,
                "rate": item.rate,
                "min_quantity": item.min,
                "max_quantity": item.max,
                "dripfeed": item.dripfeed,
                "refill": item.refill,
                "cancel": item.cancel,
                "description": item.description,
                "average_time": item.average_time,
            }
            row = existing.get(item.service_id)
            if row is None:
                self.session.add(
                    Service(
                        service_id=item.service_id,
                        category_id=category.id,
                        position=position,
                        search_text=search_text(item.service_id, item.name, item.category),
                        available=True,
                        first_seen_at=now,
                        updated_at=now,
                        **values,
                    )
                )
                report.added.append(item.service_id)
                continue
            differs = any(getattr(row, name) != values[name] for name in _TRACKED)
            if differs or not row.available:
                for name in _TRACKED:
                    setattr(row, name, values[name])
                row.search_text = search_text(item.service_id, item.name, item.category)
                row.updated_at = now
                if differs:
                    report.changed.append(item.service_id)
                if not row.available:
                    row.available = True
                    report.added.append(item.service_id)
            row.category_id = category.id
            row.position = position
            indexed = service_search_text(row, category)
            if row.search_text != indexed:
                row.search_text = indexed
        for service_id, row in existing.items():
            if service_id not in seen and row.available:
                row.available = False
                row.updated_at = now
                report.removed.append(service_id)
        for name, category in categories.items():
            if name not in seen_categories:
                category.available = False
        await self.session.flush()
        return report

    async def get(self, service_id: str) -> tuple[Service, Category] | None:
        result = await self.session.execute(
            select(Service, Category)
            .join(Category, Service.category_id == Category.id)
            .where(Service.service_id == service_id)
        )
        row = result.first()
        return None if row is None else (row[0], row[1])

    async def get_visible(self, service_id: str) -> tuple[Service, Category] | None:
        result = await self.session.execute(
            select(Service, Category)
            .join(Category, Service.category_id == Category.id)
            .where(Service.service_id == service_id, visible_service())
        )
        row = result.first()
        return None if row is None else (row[0], row[1])

    async def category(self, category_id: int) -> Category | None:
        return await self.session.get(Category, category_id)

    async def categories_page(self, *, offset: int, limit: int) -> tuple[list[tuple[Category, int]], int]:
        """Visible categories with their count of visible services, in the panel's order.

        Services are counted only for the categories of the page (EXISTS finds the others), so a
        page costs the same with 50 services or 5,000 (bench/catalog.py; a GROUP BY over every
        service was 4x slower at 5,000).
        """
        in_category = and_(
            Service.category_id == Category.id, Service.available.is_(True), Service.hidden.is_(False)
        )
        shown = (
            Category.available.is_(True),
            Category.hidden.is_(False),
            exists().where(in_category),
        )
        total = (
            await self.session.execute(select(func.count()).select_from(Category).where(*shown))
        ).scalar_one()
        if limit <= 0:
            return [], int(total)
        counted = select(func.count()).where(in_category).correlate(Category).scalar_subquery()
        rows = await self.session.execute(
            select(Category, counted.label("n"))
            .where(*shown)
            .order_by(Category.position, Category.id)
            .offset(offset)
            .limit(limit)
        )
        return [(row[0], int(row[1])) for row in rows], int(total)

    async def visible_categories(self) -> list[tuple[Category, int]]:
        """Every visible category with its count of visible services, in the panel's order: the
        catalog's platform grouping is built from this once and kept (bot/services/catalog.py)."""
        rows, _ = await self.categories_page(offset=0, limit=1_000_000)
        return rows

    async def services_page(self, category_id: int, *, offset: int, limit: int) -> tuple[list[Service], int]:
        where = (Service.category_id == category_id, visible_service())
        base = select(Service).join(Category, Service.category_id == Category.id).where(*where)
        total = (
            await self.session.execute(
                select(func.count())
                .select_from(Service)
                .join(Category, Service.category_id == Category.id)
                .where(*where)
            )
        ).scalar_one()
        rows = await self.session.execute(base.order_by(Service.position).offset(offset).limit(limit))
        return list(rows.scalars()), int(total)

    async def search(
        self,
        query: str,
        *,
        offset: int,
        limit: int,
        groups: Sequence[Sequence[str]] | None = None,
    ) -> tuple[list[tuple[Service, Category]], int]:
        """Visible services (with their category) whose id equals the query or whose text holds
        every word of it; `groups` widens each word to any of its terms (a Russian word and its
        English names), one group per word."""
        words = [w for w in fold(query).split() if w][:8]
        if not words:
            return [], 0
        if groups is None:
            groups = [(word,) for word in words]
        conditions: list[ColumnElement[bool]] = []
        for group in list(groups)[:8]:  # bounded: at most 8 words of 6 terms each
            terms = [fold(term) for term in group if term][:6]
            if terms:
                conditions.append(or_(*(_contains(term) for term in terms)))
        match = and_(*conditions)
        if len(words) == 1 and words[0].isdigit():
            match = match | (Service.service_id == words[0])
        where = (match, visible_service())
        total = (
            await self.session.execute(
                select(func.count())
                .select_from(Service)
                .join(Category, Service.category_id == Category.id)
                .where(*where)
            )
        ).scalar_one()
        exact_first = (Service.service_id == query.strip()).desc()
        rows = await self.session.execute(
            select(Service, Category)
            .join(Category, Service.category_id == Category.id)
            .where(*where)
            .order_by(exact_first, Service.position)
            .offset(offset)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows], int(total)

    async def set_service_overrides(self, service_id: str, **values: object) -> bool:
        result = await self.session.execute(
            update(Service).where(Service.service_id == service_id).values(**values)
        )
        changed = bool(getattr(result, "rowcount", 0))
        if changed and "title" in values:
            await self._reindex(Service.service_id == service_id)
        return changed

    async def set_category_overrides(self, category_id: int, **values: object) -> bool:
        result = await self.session.execute(
            update(Category).where(Category.id == category_id).values(**values)
        )
        changed = bool(getattr(result, "rowcount", 0))
        if changed and "title" in values:
            await self._reindex(Service.category_id == category_id)
        return changed

    async def _reindex(self, where: ColumnElement[bool]) -> None:
        """A rename: the shop's new name finds the service (search_text holds every name)."""
        rows = await self.session.execute(
            select(Service.service_id, Service.name, Service.title, Category.name, Category.title)
            .join(Category, Service.category_id == Category.id)
            .where(where)
        )
        for service_id, name, title, category_name, category_title in rows.all():
            await self.session.execute(
                update(Service)
                .where(Service.service_id == service_id)
                .values(search_text=search_text(service_id, name, title, category_name, category_title))
            )
