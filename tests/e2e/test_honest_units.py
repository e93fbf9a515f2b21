"""Honest units and neutral link examples (issue #15).

The card, the search results, the admin screen and the charge all read PANEL_FLAT_RATE_TYPES: an
owner whose panel bills Custom Comments Package per line sees "per 1000" everywhere, and the
customer is charged per line, as the card said. A service of no known platform is asked for "a
link" without an Instagram example. Through the fake Bot API, the panel simulator and the ledger.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.telegram.callbacks import AdminCatCb
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState
from tests.e2e.conftest import ADMIN_ID, SIM_KEY, Shop
from tests.e2e.flows import fill_order_form

COMMENTS_PACKAGE_ID = "43"  # Instagram Comments Package, 3.50 upstream: 5.25 with the markup
OTHER_ID = "2"  # moved to a category that names no platform (below)


@pytest.fixture
def sim_state() -> PanelState:
    catalog = realistic_catalog()
    other = next(item for item in catalog if item["service"] == OTHER_ID)
    other["category"], other["name"] = "Misc Boosts", "Promo Boost"
    return PanelState(api_key=SIM_KEY, catalog=catalog, partial_chance=0.0, refill_reject_chance=0.0)


async def test_per_line_billing_shows_per_1000_everywhere_and_charges_per_line(shop: Shop) -> None:
    await shop.restart(panel_flat_rate_types=["package"])  # PANEL_FLAT_RATE_TYPES=package
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await ann.send_text(f"#{COMMENTS_PACKAGE_ID}")
    card = await ann.wait_for_message(contains=f"Service #{COMMENTS_PACKAGE_ID}")
    assert "Price: 5.25 USD per 1000" in card.text and "per package" not in card.text

    await ann.send_text("comments package")
    found = await ann.wait_for_message(contains="Results for")
    labels = [label for label in found.button_texts if label.startswith(f"#{COMMENTS_PACKAGE_ID} ·")]
    assert labels and "5.25 USD/1000" in labels[0] and "/package" not in labels[0]

    await ann.send_text(f"/order {COMMENTS_PACKAGE_ID}")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/p/abc")
    await ann.wait_for_message(contains="comments")
    await ann.send_text("great\nnice\nwow")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Price: 0.02 USD" in summary.text  # 5.25 × 3 / 1000, rounded up to the cent
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    assert (await shop.balance(1001))[0] == Decimal("9.9800")

    owner = shop.user(ADMIN_ID, "Owner")
    await owner.send_text("/admincatalog")
    catalog = await owner.wait_for_message(contains="Catalog")
    await owner.press_data(AdminCatCb(action="svc", id=COMMENTS_PACKAGE_ID).pack(), catalog)
    screen = await owner.wait_for_message(contains=f"service #{COMMENTS_PACKAGE_ID}", edited=True)
    assert "price 5.25 USD per 1000" in screen.text and "per package" not in screen.text


async def test_a_type_made_flat_is_a_package_on_the_card_and_in_the_charge(shop: Shop) -> None:
    """The other way round: an owner adds a type; its card and its charge both say per package."""
    await shop.restart(panel_flat_rate_types=["package", "custom comments package", "default"])
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await ann.send_text("#1")
    card = await ann.wait_for_message(contains="Service #1")
    assert "per package" in card.text and "per 1000" not in card.text
    price = card.text.split("Price: ", 1)[1].split(" USD", 1)[0]

    summary = await fill_order_form(ann)
    assert f"Price: {price} USD" in summary.text


@pytest.mark.parametrize(
    ("language", "typo", "prompt_word"),
    [("en", "not a link", "Send the link"), ("ru", "не ссылка", "Отправьте ссылку")],
)
async def test_a_service_of_no_known_platform_gets_a_neutral_link_example(
    shop: Shop, language: str, typo: str, prompt_word: str
) -> None:
    ann = shop.user(1001, "Ann", language_code=language)
    await ann.send_text(f"/order {OTHER_ID}")
    prompt = await ann.wait_for_message(contains=prompt_word)
    assert "example.com/your-post" in prompt.text and "instagram" not in prompt.text.lower()
    await ann.send_text(typo)
    error = await ann.wait_for_message(contains="example.com/your-post")
    assert "instagram" not in error.text.lower()


async def test_a_package_left_out_of_the_setting_is_still_per_package_not_free(shop: Shop) -> None:
    """A package has nothing to count: per unit it would cost nothing (and the panel its rate)."""
    await shop.restart(panel_flat_rate_types=["custom comments package"])
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    await ann.send_text("#63")
    card = await ann.wait_for_message(contains="Service #63")
    assert "Price: 14.99 USD per package" in card.text
    await ann.send_text("/order 63")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Price: 14.99 USD" in summary.text
