"""Customers order through Telegram: every step as a user would do it."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.conftest import Shop


async def test_start_browse_and_order_followers(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "20")
    await ann.send_text("/start")
    menu = await ann.wait_for_message(contains="Hello, Ann")
    assert "Services" in " ".join(menu.button_texts)

    await ann.press("Services")
    await ann.wait_for_message(contains="Choose a platform")
    await ann.press("Instagram (")
    cats = await ann.wait_for_message(contains="Choose a category")
    await ann.press("Instagram Followers (")
    services = await ann.wait_for_message(contains="Instagram Followers")
    await ann.press((0, 0))
    card = await ann.wait_for_message(contains="Service #1")
    assert "1.08 USD" in card.text  # 0.72 per 1000 + 50 %
    await ann.press("Order")
    await ann.wait_for_message(contains="Send the link")
    await ann.send_text("not a link")
    await ann.wait_for_message(contains="does not look like a link")
    await ann.send_text("https://instagram.com/ann")
    await ann.wait_for_message(contains="How many")
    await ann.send_text("10")
    await ann.wait_for_message(contains="between 50 and 100000")
    await ann.send_text("2000")
    summary = await ann.wait_for_message(contains="Check your order")
    assert "2.16 USD" in summary.text
    await ann.press("Confirm")
    done = await ann.wait_for_message(contains="is placed")
    assert "in progress" in done.text
    assert shop.sim.state.count("add") == 1
    assert await shop.balance(1001) == (Decimal("17.8400"), Decimal("17.8400"))
    del cats, services
