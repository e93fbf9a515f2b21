"""The admins' problem list settles by hand what the panel's answers leave open (issue #13).

Before: a Partial with remains "Unknown" was closed with a 0 refund and a log line; nobody was told.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.admin.conftest import Shop, admin_user, audit_rows, shop, shop_servers, sim_state
from tests.e2e.flows import fill_followers_form

__all__ = ["shop", "shop_servers", "sim_state"]


async def test_a_partial_without_remains_is_refunded_by_the_admins_amount(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    admin = admin_user(shop)
    await admin.send_text("/start")
    await admin.wait_for_message()
    await shop.fund(1001, "10")
    await fill_followers_form(shop)
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")
    (upstream_id,) = list(shop.sim.state.orders)
    sim_order = shop.sim.state.orders[upstream_id]
    sim_order.status, sim_order.remains = "Partial", "Unknown"

    alert = await admin.wait_for_message(contains="refund it owes", timeout=30)
    assert "Order #1" in alert.text and "Partial" in alert.text
    await asyncio.sleep(0.5)
    assert await shop.balance(1001) == (Decimal("8.9200"), Decimal("8.9200"))  # nothing guessed

    await admin.send_text("/problems")
    listing = await admin.wait_for_message(contains="refund to decide")
    assert "#1" in listing.text
    await admin.press("Refund part #1", listing)
    await admin.wait_for_message(contains="How much of order #1")
    await admin.send_text("5")
    await admin.wait_for_message(contains="from 0 to 1.08 USD")
    await admin.send_text("0.40")
    done = await admin.wait_for_message(contains="is settled")
    assert "0.40 USD" in done.text
    told = await ann.wait_for_message(contains="only partly delivered", timeout=30)
    assert "0.40 USD was returned" in told.text
    assert await shop.balance(1001) == (Decimal("9.3200"), Decimal("9.3200"))
    assert "order.refund_amount" in [row.action for row in await audit_rows(shop)]

    await admin.send_text("/problems")
    await admin.wait_for_message(contains="Nothing to settle")
