"""Admins shape what customers see: markups (service > category > global), hidden services, names."""

from __future__ import annotations

from sandbox.telegram_server import FakeUser
from storage.repositories.catalog import CatalogRepository
from tests.admin.conftest import Shop, admin_user, audit_rows
from tests.e2e.flows import fill_order_form


async def category_of(shop: Shop, service_id: str) -> int:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        found = await CatalogRepository(session).get(service_id)
    assert found is not None
    return found[1].id


async def card_price(customer: FakeUser, service_id: str = "1") -> str:
    """The price line of the service card, as the customer sees it (search by id, open the card)."""
    await customer.send_text(service_id)  # a number opens that service's card
    card = await customer.wait_for_message(contains=f"Service #{service_id}")
    return next(line for line in card.text.splitlines() if "per 1000" in line)


async def admin_says(shop: Shop, command: str, expect: str) -> None:
    admin = admin_user(shop)
    await admin.send_text(command)
    await admin.wait_for_message(contains=expect)


async def test_markup_service_beats_category_beats_global(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    category = await category_of(shop, "1")
    assert "1.08 USD" in await card_price(ann)  # rate 0.72 + the configured 50 %

    await admin_says(shop, "/markup 100", "Shop-wide markup is now 100%")
    assert "1.44 USD" in await card_price(ann)
    await admin_says(shop, f"/markup cat {category} 25", f"Markup of category {category} is now 25%")
    assert "0.90 USD" in await card_price(ann)
    await admin_says(shop, "/markup svc 1 10", "Markup of service #1 is now 10%")
    assert "0.80 USD" in await card_price(ann)  # 0.792, rounded up to the cent
    await admin_says(shop, "/markup svc 1 off", "Service #1 follows its category")
    assert "0.90 USD" in await card_price(ann)
    await admin_says(shop, f"/markup cat {category} off", f"Category {category} follows the shop-wide markup")
    assert "1.44 USD" in await card_price(ann)
    await admin_says(shop, "/markup 12,5", "Shop-wide markup is now 12.5%")
    assert "0.81 USD" in await card_price(ann)
    await admin_says(shop, "/markup lots", "“lots” is not a markup")

    actions = [row.action for row in await audit_rows(shop)]
    assert actions == [
        "catalog.markup_global",
        "catalog.markup_category",
        "catalog.markup_service",
        "catalog.markup_service",
        "catalog.markup_category",
        "catalog.markup_global",
    ]

    # The price the order form charges follows the card.
    await shop.fund(1001, "10")
    summary = await fill_order_form(ann)
    assert "0.81 USD" in summary.text


async def test_hidden_services_and_categories_disappear_for_customers(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    category = await category_of(shop, "1")
    await admin_says(shop, "/hide 1", "Service #1 is hidden from customers")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="There is no service #1")
    await ann.send_text("Instagram Followers - Cheapest")
    results = await ann.wait_for_message(lambda m: "Results for" in m.text or "Nothing found" in m.text)
    assert not any("Instagram Followers - Cheapest" in label for label in results.button_texts)

    await admin_says(shop, "/show 1", "Service #1 is visible to customers again")
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("/cancel")
    await ann.wait_for_message(contains="Cancelled")

    await admin_says(shop, f"/hidecat {category}", f"Category {category} is hidden from customers")
    await ann.send_text("/services")
    await ann.wait_for_message(contains="Choose a platform")
    await ann.press("Instagram (")
    categories = await ann.wait_for_message(contains="Choose a category")
    assert not any(label.startswith("Instagram Followers (") for label in categories.button_texts)
    await ann.send_text("/order 1")
    await ann.wait_for_message(contains="There is no service #1")
    await admin_says(shop, f"/showcat {category}", f"Category {category} is visible to customers again")
    await admin_says(shop, "/hide 999999", "There is no service #999999")


async def test_rename_and_the_admin_catalog_view(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    category = await category_of(shop, "1")
    await admin_says(
        shop, "/rename 1 Real followers <fast>", "Customers now see service #1 as “Real followers <fast>”"
    )
    await admin_says(
        shop, f"/renamecat {category} Followers", f"Customers now see category {category} as “Followers”"
    )
    await ann.send_text("1")
    card = await ann.wait_for_message(contains="Service #1")
    assert "Real followers <fast>" in card.text and "Category: Followers" in card.text

    admin = admin_user(shop)
    await admin.send_text("/admincatalog")
    cats = await admin.wait_for_message(contains="Catalog")
    await admin.press("👁 Followers (", cats)
    screen = await admin.wait_for_message(contains=f"category {category}", edited=True)
    assert "Panel name: Instagram Followers" in screen.text
    await admin.press("#1 Real followers", screen)
    item = await admin.wait_for_message(contains="service #1", edited=True)
    assert (
        "Panel name: Instagram Followers - Cheapest" in item.text and "Visible to customers: yes" in item.text
    )
    await admin.press("🙈 Hide", item)
    hidden = await admin.wait_for_message(contains="Visible to customers: no", edited=True)
    await admin.press("👁 Show", hidden)
    await admin.wait_for_message(contains="Visible to customers: yes", edited=True)

    await admin_says(shop, "/rename 1 -", "Service #1 shows the panel's name again")
    await ann.send_text("/order 1")
    form = await ann.wait_for_message(contains="Send the link")
    assert "Instagram Followers - Cheapest" in form.text
    actions = [row.action for row in await audit_rows(shop)]
    assert actions == [
        "catalog.rename",
        "catalog.rename_category",
        "catalog.view",
        "catalog.hide",
        "catalog.show",
        "catalog.rename",
    ]


async def test_sync_reports_what_changed(shop: Shop) -> None:
    shop.sim.state.catalog = [item for item in shop.sim.state.catalog if str(item["service"]) != "1"]
    admin = admin_user(shop)
    await admin.send_text("/sync")
    report = await admin.wait_for_message(contains="Catalog refreshed")
    assert "1 removed" in report.text and "Removed: #1" in report.text
    assert [row.action for row in await audit_rows(shop)] == ["catalog.sync"]
