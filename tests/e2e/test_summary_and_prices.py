"""The order summary and the prices a customer reads (issue #15): the balance before and after the
order, a short balance said before Confirm, and the shown price being the charged one (per 1000
and per package). Through the fake Bot API, the panel simulator and the ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.telegram.callbacks import AdminCatCb
from sandbox.catalogs import realistic_catalog
from sandbox.panel_simulator import PanelState
from tests.e2e.conftest import ADMIN_ID, SIM_KEY, Shop
from tests.e2e.flows import fill_followers_form

# 0.2441 with the shop's 50% markup is 0.36615: shown as 0.37 per 1000. Charging from the raw rate
# gave 1.84 for 5000 while the card promised 0.37 × 5 = 1.85.
ODD_RATE = "0.2441"
PACKAGE_ID = "63"  # Instagram Profile Starter Package, 9.99 upstream: 14.99 with the markup


@pytest.fixture
def sim_state() -> PanelState:
    catalog = realistic_catalog()
    catalog[0]["rate"] = ODD_RATE  # service 1, Instagram Followers
    return PanelState(api_key=SIM_KEY, catalog=catalog, partial_chance=0.0, refill_reject_chance=0.0)


async def test_the_summary_shows_the_balance_before_and_after_the_order(shop: Shop) -> None:
    shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    summary = await fill_followers_form(shop)
    assert "Price: 0.37 USD" in summary.text
    assert "Your balance: 10.00 USD" in summary.text
    assert "After this order: 9.63 USD" in summary.text
    assert "short" not in summary.text
    assert "💳 Top up" not in summary.button_texts


async def test_a_short_balance_is_said_before_confirm_with_a_top_up_button(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "0.30")
    summary = await fill_followers_form(shop)
    assert "Your balance: 0.30 USD" in summary.text
    assert "short by 0.07 USD" in summary.text and "top up first" in summary.text
    assert "After this order" not in summary.text
    texts = summary.button_texts
    assert texts.index("💳 Top up") < texts.index("✅ Confirm")
    assert shop.sim.state.count("add") == 0
    await ann.press("💳 Top up", summary)  # this shop has no top-up method yet: it says so
    await ann.wait_for_message(contains="Top-ups are not available")

    await shop.fund(1001, "5")  # topped up meanwhile: Confirm on the same summary places it
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    assert (await shop.balance(1001))[0] == Decimal("4.9300")


async def test_without_a_wallet_the_summary_shows_no_balance(shop: Shop) -> None:
    await shop.restart(wallet_enabled=False)
    shop.user(1001, "Ann")
    summary = await fill_followers_form(shop)
    assert "nothing is charged from a balance" in summary.text
    assert "Your balance" not in summary.text and "short by" not in summary.text
    assert "💳 Top up" not in summary.button_texts


async def test_the_card_price_per_1000_times_the_quantity_is_the_summary_and_the_charge(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await ann.send_text("#1")
    card = await ann.wait_for_message(contains="Service #1")
    assert "Price: 0.37 USD per 1000" in card.text
    await ann.send_text("instagram followers cheapest")
    found = await ann.wait_for_message(contains="Results for")
    assert any(label.startswith("#1 ·") and "0.37 USD/1000" in label for label in found.button_texts)

    summary = await fill_followers_form(shop, quantity="5000")
    assert "Price: 1.85 USD" in summary.text  # 0.37 × 5
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    assert await shop.balance(1001) == (Decimal("8.1500"), Decimal("8.1500"))


async def test_a_package_says_per_package_everywhere_and_costs_its_shown_price(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    await ann.send_text(f"#{PACKAGE_ID}")
    card = await ann.wait_for_message(contains=f"Service #{PACKAGE_ID}")
    assert "Price: 14.99 USD per package" in card.text
    assert "per 1000" not in card.text and "1–1" not in card.text and "1-1" not in card.text

    await ann.send_text("starter package")
    found = await ann.wait_for_message(contains="Results for")
    labels = [label for label in found.button_texts if label.startswith(f"#{PACKAGE_ID} ·")]
    assert labels and "14.99 USD/package" in labels[0] and "/1000" not in labels[0]

    await ann.send_text(f"/order {PACKAGE_ID}")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("https://instagram.com/ann")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "Price: 14.99 USD" in summary.text and "Quantity" not in summary.text
    assert "After this order: 5.01 USD" in summary.text
    await ann.press("Confirm", summary)
    await ann.wait_for_message(contains="is placed")
    assert (await shop.balance(1001))[0] == Decimal("5.0100")

    owner = shop.user(ADMIN_ID, "Owner")  # the owner's screen of the service says it too
    await owner.send_text("/admincatalog")
    catalog = await owner.wait_for_message(contains="Catalog")
    await owner.press_data(AdminCatCb(action="svc", id=PACKAGE_ID).pack(), catalog)
    screen = await owner.wait_for_message(contains=f"service #{PACKAGE_ID}", edited=True)
    assert "9.99 USD per package" in screen.text and "price 14.99 USD per package" in screen.text
    assert "per 1000" not in screen.text
