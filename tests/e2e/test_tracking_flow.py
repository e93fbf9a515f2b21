"""After confirming, customers are told when their order starts, completes or is cut short."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.conftest import Shop
from tests.e2e.flows import fill_followers_form


async def place(shop: Shop, quantity: str = "1000") -> str:
    ann = shop.tg.user(1001)
    await fill_followers_form(shop, quantity=quantity)
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed")
    return next(iter(shop.sim.state.orders))


async def test_completion_is_pushed_once(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    upstream = await place(shop)
    shop.sim.state.advance(upstream, status="In progress", start_count=120)
    started = await ann.wait_for_message(contains="has started", timeout=10)
    assert "Start count: 120" in started.text
    shop.sim.state.complete(upstream)
    done = await ann.wait_for_message(contains="is completed", timeout=10)
    assert "https://instagram.com/ann" in done.text
    await ann.assert_no_new_messages(within=2.5)  # later poll cycles send nothing more


async def test_partial_is_refunded_and_shown(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    upstream = await place(shop, quantity="1000")  # price 1.08
    shop.sim.state.make_partial(upstream, remains=250)
    partial = await ann.wait_for_message(contains="only partly delivered", timeout=10)
    assert "0.27 USD was returned" in partial.text  # 1.08 × 250 / 1000
    assert await shop.balance(1001) == (Decimal("9.1900"), Decimal("9.1900"))
    await ann.send_text("/balance")
    wallet = await ann.wait_for_message(contains="Your balance")
    assert "(partially completed): +0.27 USD" in wallet.text and "Refund for order #" in wallet.text


async def test_user_who_blocked_the_bot_is_skipped(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    upstream = await place(shop)
    ann.block_bot()
    shop.sim.state.complete(upstream)
    for _ in range(40):
        if shop.tg.stats.blocked:
            break
        import asyncio

        await asyncio.sleep(0.25)
    assert shop.tg.stats.blocked == 1
    ann.unblock_bot()
    await ann.assert_no_new_messages(within=2.0)
