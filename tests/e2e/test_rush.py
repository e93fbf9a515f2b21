"""A rush of confirms against a panel that serves only a few requests at once: each order placed once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.e2e.conftest import Shop

CUSTOMERS = range(2001, 2021)


async def fill_form(shop: Shop, user_id: int) -> None:
    user = shop.tg.user(user_id)
    await user.send_text("/order 1")
    await user.wait_for_message(contains="Send the link")
    await user.send_text(f"https://instagram.com/customer{user_id}")
    await user.wait_for_message(contains="How many")
    await user.send_text("1000")
    await user.wait_for_message(contains="Check your order")


async def test_twenty_confirms_at_once_are_each_placed_once_despite_429s(shop: Shop) -> None:
    await shop.restart(panel_timeout_seconds=15.0)  # the suite's 1 s is too tight on a busy machine
    for user_id in CUSTOMERS:
        shop.user(user_id, f"C{user_id}")
        await shop.fund(user_id, "10", f"C{user_id}")
        await fill_form(shop, user_id)
    state = shop.sim.state
    state.max_concurrent, state.latency = 3, 0.05  # a small panel: 429 above three requests at once

    await asyncio.gather(*(shop.tg.user(user_id).press("Confirm") for user_id in CUSTOMERS))
    for user_id in CUSTOMERS:
        await shop.tg.user(user_id).wait_for_message(contains="is placed")

    assert state.throttled.get("add", 0) > 0  # the panel refused some at first...
    links = sorted(order.link or "" for order in state.orders.values())
    assert links == sorted(
        f"https://instagram.com/customer{user_id}" for user_id in CUSTOMERS
    )  # ...once each
    for user_id in CUSTOMERS:
        assert await shop.balance(user_id) == (Decimal("8.9200"), Decimal("8.9200"))  # charged once
