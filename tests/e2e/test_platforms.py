"""The catalog by platform and links that fit the platform (issue #15), through the fake Bot API
and the panel simulator with the demo's catalog (274 services in 196 categories)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sandbox.catalogs import doc_example_catalog
from sandbox.telegram_server import FakeUser
from sandbox.telegram_state import FakeMessage
from storage.models import Category
from tests.e2e.conftest import ADMIN_ID, Shop

MYSTERY: dict[str, Any] = {
    "service": "9001",
    "name": "Mystery Boost",
    "category": "Mystery Boosts",
    "rate": "1.0000",
    "min": "10",
    "max": "1000",
    "type": "Default",
}


async def resync(shop: Shop) -> None:
    assert shop.app is not None
    await shop.app.dispatcher.workflow_data["catalog"].refresh()


async def category_id(shop: Shop, name: str) -> int:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        return (await session.execute(select(Category.id).where(Category.name == name))).scalar_one()


def first_service(shop: Shop, category_prefix: str) -> str:
    return next(
        str(e["service"])
        for e in shop.sim.state.catalog
        if e["category"].startswith(category_prefix) and e["type"] == "Default"
    )


def has_pages(message: FakeMessage) -> bool:
    return any(label in ("◀️", "▶️") for label in message.button_texts)


async def open_catalog(ann: FakeUser) -> FakeMessage:
    await ann.send_text("/services")
    return await ann.wait_for_message(contains="Choose a platform")


async def test_the_first_level_lists_platforms_with_counts_and_other_last(shop: Shop) -> None:
    shop.sim.state.catalog.append(dict(MYSTERY))
    await resync(shop)
    ann = shop.user(1001, "Ann")
    catalog = await open_catalog(ann)

    def services_of(prefix: str) -> int:
        return sum(1 for e in shop.sim.state.catalog if e["category"].startswith(prefix))

    labels = [label for label in catalog.button_texts if "(" in label]
    assert labels[0] == f"Instagram ({services_of('Instagram')})"  # the panel's order
    assert f"TikTok ({services_of('TikTok')})" in labels
    assert f"X (Twitter) ({services_of('Twitter')})" in labels
    assert f"Website traffic ({services_of('Website Traffic')})" in labels
    assert labels[-1] == "Other (1)"  # last, whatever the panel's order
    assert len(labels) == 9 and f"services: {len(shop.sim.state.catalog)}" in catalog.text

    await ann.press("Other (1)", catalog)
    other = await ann.wait_for_message(contains="Other", edited=True)
    assert other.button_texts[0] == "Mystery Boosts (1)"
    await ann.press("Platforms", other)
    await ann.wait_for_message(contains="Choose a platform", edited=True)


async def test_any_service_of_the_demo_catalog_is_four_taps_away(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("/start")
    menu = await ann.wait_for_message(contains="Hello")
    await ann.press("Services", menu)  # tap 1
    catalog = await ann.wait_for_message(contains="Choose a platform", edited=True)
    platforms = [label for label in catalog.button_texts if "(" in label]
    assert len(platforms) == 8
    for label in platforms:  # every platform shows all its categories on one page: no page taps
        await ann.press(label, catalog)  # tap 2
        screen = await ann.wait_for_message(contains="Choose a category", edited=True)
        assert not has_pages(screen), label
        await ann.press("Platforms", screen)
        catalog = await ann.wait_for_message(contains="Choose a platform", edited=True)

    # The biggest platform's last category and that category's last service.
    await ann.press("Instagram (", catalog)  # tap 2
    instagram = await ann.wait_for_message(contains="Instagram", edited=True)
    assert "categories: 49" in instagram.text
    last_category = [label for label in instagram.button_texts if label.endswith(")")][-1]
    await ann.press(last_category, instagram)  # tap 3
    services = await ann.wait_for_message(contains=" — page ", edited=True)
    assert not has_pages(services)
    last_service = [label for label in services.button_texts if label.startswith("#")][-1]
    await ann.press(last_service, services)  # tap 4
    card = await ann.wait_for_message(contains="Service #", edited=True)
    assert last_service.split(" · ")[0] in card.text  # `#17…`: the service pressed
    await ann.press("Back", card)  # back to the category, then back to its platform
    services = await ann.wait_for_message(contains=" — page ", edited=True)
    await ann.press("Categories", services)
    await ann.wait_for_message(contains="categories: 49", edited=True)


async def test_the_owners_platform_moves_a_category_and_survives_a_sync(shop: Shop) -> None:
    admin, ann = shop.user(ADMIN_ID, "Owner"), shop.user(1001, "Ann")
    members = await category_id(shop, "Telegram Members")

    await admin.send_text(f"/platform {members} yt")
    await admin.wait_for_message(contains=f"find category {members} under YouTube (youtube)")
    await admin.send_text(f"/platform {members} myspace")
    await admin.wait_for_message(contains="“myspace” is not a platform")
    await admin.send_text("/platform 999999 youtube")
    await admin.wait_for_message(contains="There is no category 999999")

    async def platform_of_members() -> str:
        catalog = await open_catalog(ann)
        for label in ("YouTube (", "Telegram ("):
            await ann.press(label, catalog)
            screen = await ann.wait_for_message(contains="Choose a category", edited=True)
            if any(b.startswith("Telegram Members (") for b in screen.button_texts):
                return label.rstrip(" (")
            await ann.press("Platforms", screen)
            catalog = await ann.wait_for_message(contains="Choose a platform", edited=True)
        return "nowhere"

    assert await platform_of_members() == "YouTube"
    await admin.send_text("/sync")
    await admin.wait_for_message(contains="Catalog refreshed", timeout=15)
    assert await platform_of_members() == "YouTube"  # the sync kept the owner's choice

    await ann.send_text(f"/order {first_service(shop, 'Telegram Members')}")
    prompt = await ann.wait_for_message(contains="Send the link")
    assert "YouTube" in prompt.text  # the form follows the owner's platform too

    await admin.send_text(f"/platform {members} auto")
    await admin.wait_for_message(contains=f"Category {members} is filed by its name again: Telegram")
    assert await platform_of_members() == "Telegram"


async def test_a_youtube_service_wants_a_youtube_link(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text(f"/order {first_service(shop, 'YouTube Views')}")
    prompt = await ann.wait_for_message(contains="Send the link")
    assert "YouTube" in prompt.text and "https://youtube.com/watch?v=" in prompt.text

    await ann.send_text("https://www.instagram.com/p/Cx1/")
    refused = await ann.wait_for_message(contains="This service is for YouTube")
    assert "that link is for Instagram" in refused.text
    await ann.send_text("youtube.com")  # a bare site address is not a video or a channel
    await ann.wait_for_message(contains="only the site's address")
    await ann.send_text("https://youtu.be/dQw4w9WgXcQ")
    await ann.wait_for_message(contains="How many")


async def test_a_service_of_no_known_platform_takes_any_web_link(shop: Shop) -> None:
    shop.sim.state.catalog.append(dict(MYSTERY))
    await resync(shop)
    ann = shop.user(1001, "Ann")
    await ann.send_text("/order 9001")
    prompt = await ann.wait_for_message(contains="Send the link")
    assert "YouTube" not in prompt.text
    await ann.send_text("example.org")
    await ann.wait_for_message(contains="How many")


async def test_a_forged_platform_button_shows_the_catalog_again(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    catalog = await open_catalog(ann)
    await ann.press("TikTok (", catalog)
    tiktok = await ann.wait_for_message(contains="TikTok", edited=True)
    await ann.press_data("pf:myspace:0", tiktok)
    answer = await ann.wait_for_answer()
    assert "Nothing to order on that platform" in (answer.answer_text or "")
    await ann.wait_for_message(contains="Choose a platform", edited=True)


async def test_a_panel_of_one_platform_skips_the_level(shop: Shop) -> None:
    shop.sim.state.catalog = doc_example_catalog()  # two categories, no platform named
    await resync(shop)
    ann = shop.user(1001, "Ann")
    await ann.send_text("/services")
    categories = await ann.wait_for_message(contains="Categories")
    assert any(label.startswith("First Cateogry (") for label in categories.button_texts)
    await ann.press("First Cateogry (", categories)
    services = await ann.wait_for_message(contains=" — page ", edited=True)
    await ann.press("Categories", services)  # back to the whole list: there is no platform level
    await ann.wait_for_message(contains="Choose a category", edited=True)


async def test_a_platform_with_more_categories_than_a_message_holds_pages(shop: Shop) -> None:
    entries = [
        dict(MYSTERY, service=str(5000 + n), name=f"IG Likes {n}", category=f"IG Likes Pack {n}")
        for n in range(95)
    ]
    shop.sim.state.catalog = [*entries, dict(MYSTERY, category="TikTok Views")]
    await resync(shop)
    ann = shop.user(1001, "Ann")
    catalog = await open_catalog(ann)
    assert catalog.button_texts[:2] == ["Instagram (95)", "TikTok (1)"]
    await ann.press("Instagram (95)", catalog)
    first = await ann.wait_for_message(contains="page 1/2", edited=True)
    assert len(first.button_texts) <= 100  # within Telegram's limit (the fake server checks it too)
    await ann.press("▶️", first)
    second = await ann.wait_for_message(contains="page 2/2", edited=True)
    assert [b for b in second.button_texts if b.startswith("IG Likes Pack")] == [
        f"IG Likes Pack {n} (1)" for n in range(90, 95)
    ]
