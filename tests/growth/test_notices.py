"""Customers choose which order notices they get: every status change, or only completion and refunds."""

from __future__ import annotations

from tests.e2e.flows import fill_followers_form
from tests.growth.conftest import PayShop


async def test_only_completion_notices_when_the_customer_says_so(pay_shop: PayShop) -> None:
    ann = await pay_shop.customer()
    await pay_shop.fund(1001, "10")
    await ann.send_text("/settings")
    screen = await ann.wait_for_message(lambda m: "🔔 Order notices" in m.button_texts)
    await ann.press("🔔 Order notices", screen)
    notices = await ann.wait_for_message(contains="every status change")
    assert "✅ Every status change" in notices.button_texts
    await ann.press("Completion and refunds", notices)
    chosen = await ann.wait_for_message(contains="only when an order completes", edited=True)
    assert "✅ Completion and refunds" in chosen.button_texts

    await fill_followers_form(pay_shop)
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")
    upstream = next(iter(pay_shop.sim.state.orders))
    pay_shop.sim.state.advance(upstream, status="In progress", start_count=120)
    await ann.assert_no_new_messages(within=2.5)  # "has started" is muted
    pay_shop.sim.state.complete(upstream)
    await ann.wait_for_message(contains="is completed", timeout=10)

    await ann.send_text("/notices")
    back = await ann.wait_for_message(contains="only when an order completes")
    await ann.press("Every status change", back)
    await ann.wait_for_message(contains="at every status change", edited=True)
