"""The catalog snapshot: synced from the panel, browsed locally, vanished services hidden not deleted."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel import PanelClient
from bot.services.catalog import CatalogService
from bot.services.ordering import OrderService
from sandbox.catalogs import generate_catalog
from sandbox.panel_simulator import SimulatorHandle
from storage.models import LedgerKind
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository


async def test_vanished_services_are_hidden_and_old_orders_keep_their_names(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient, sim: SimulatorHandle
) -> None:
    catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"))
    await catalog.refresh()
    async with session_factory.begin() as session:
        await UserRepository(session).touch(7, username=None, first_name="U", language_code="en")
        await LedgerRepository(session).apply(
            user_id=7, amount=Decimal("50"), kind=LedgerKind.DEPOSIT, key="d"
        )
    view = await catalog.service("1")
    assert view is not None
    orders = OrderService(session_factory, panel)
    placed = await orders.place(
        user_id=7, draft_key="7:a", view=view, values={"link": "https://instagram.com/u", "quantity": 1000}
    )

    sim.state.catalog = [s for s in sim.state.catalog if s["service"] != "1"]
    report = await catalog.refresh()
    assert report.removed == ["1"]
    assert await catalog.service("1") is None
    found = await catalog.search("1", 0, 10)
    assert all(v.service_id != "1" for v in found.items)
    kept = await orders.get_for_user(7, placed.order.id)
    assert kept is not None and kept.service_name == view.name


async def test_price_changes_apply_to_new_orders_only(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient, sim: SimulatorHandle
) -> None:
    catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"))
    await catalog.refresh()
    before = await catalog.service("1")
    assert before is not None and before.price_per_1000 == Decimal("0.72")
    for service in sim.state.catalog:
        if service["service"] == "1":
            service["rate"] = "0.9000"
    report = await catalog.refresh()
    assert report.changed == ["1"]
    after = await catalog.service("1")
    assert after is not None and after.price_per_1000 == Decimal("0.90")


async def test_thousands_of_services_page_and_search(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient, sim: SimulatorHandle
) -> None:
    sim.state.catalog = generate_catalog(2000, 40, hostile=True, seed=3)
    catalog = CatalogService(session_factory, panel, default_markup=Decimal("10"))
    report = await catalog.refresh()
    assert report.total == 2000
    first = await catalog.categories(0, 10)
    assert first.total == 40 and first.pages == 4 and len(first.items) == 10
    last = await catalog.categories(99, 10)  # out of range pages clamp to the last one
    assert last.page == 3
    assert sum(c.services for c in (await catalog.categories(0, 100)).items) == 2000
    hit = await catalog.search('"Cheap"', 0, 8)
    assert hit.total > 0 and len(hit.items) <= 8


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


async def test_an_admin_hiding_a_service_takes_it_off_the_shelf_at_once(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient
) -> None:
    from bot.services.admin.audit import AuditService
    from bot.services.admin.catalog import CatalogAdmin

    catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"), clock=Clock())
    await catalog.refresh()
    shown = await catalog.service("1")
    assert shown is not None
    first_page = await catalog.services(shown.category_id, 0, 50)
    assert first_page is not None and "1" in [v.service_id for v in first_page[1].items]
    admin = CatalogAdmin(session_factory, catalog, AuditService(session_factory))
    assert await admin.set_service_hidden(1, "1", True)
    assert await catalog.service("1") is None
    after = await catalog.services(shown.category_id, 0, 50)
    assert after is None or "1" not in [v.service_id for v in after[1].items]
    await admin.set_global_markup(1, Decimal("50"))
    other = await catalog.service("2")
    assert other is not None and other.markup_percent == Decimal("50")


async def test_a_change_made_elsewhere_is_seen_within_a_few_seconds(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient
) -> None:
    from bot.services.catalog import VIEWS_TTL
    from storage.repositories.catalog import CatalogRepository

    clock = Clock()
    catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"), clock=clock)
    await catalog.refresh()
    assert await catalog.service("1") is not None
    async with session_factory.begin() as session:  # another instance's admin console
        await CatalogRepository(session).set_service_overrides("1", hidden=True)
    assert await catalog.service("1") is not None  # this process remembers it for a moment
    clock.now += VIEWS_TTL
    assert await catalog.service("1") is None


async def test_search_takes_yo_and_ye_for_the_same_letter(
    session_factory: async_sessionmaker[AsyncSession], panel: PanelClient, sim: SimulatorHandle
) -> None:
    """Russian writes «ёлка» and «елка» for the same word: either spelling finds either one."""
    for service in sim.state.catalog:
        if service["service"] == "1":
            service["name"] = "Живые подписчики, зелёная галочка"
    catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"))
    await catalog.refresh()
    for query in ("зелёная", "ЗЕЛЕНАЯ", "Зелен"):
        found = await catalog.search(query, 0, 10)
        assert [view.service_id for view in found.items] == ["1"], query
