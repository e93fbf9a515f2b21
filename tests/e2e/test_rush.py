"""A rush of confirms against a panel that serves only a few requests at once: each order placed once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.e2e.conftest import Shop
from tests.e2e.flows import fill_order_form

CUSTOMERS = range(2001, 2021)


async def test_twenty_confirms_at_once_are_each_placed_once_despite_429s(shop: Shop) -> None:
    await shop.restart(panel_timeout_seconds=15.0)  # the suite's 1 s is too tight on a busy machine
    for user_id in CUSTOMERS:
        shop.user(user_id, f"C{user_id}")
        await shop.fund(user_id, "10", f"C{user_id}")
        await fill_order_form(shop.tg.user(user_id), f"https://instagram.com/customer{user_id}")
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
