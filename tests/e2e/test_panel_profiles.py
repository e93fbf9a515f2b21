"""The order and tracking flows against every panel profile seen in the wild (docs/panel-api-family.md §6).

Before issue #13: on a panel without the bulk status form no order ever left "in progress"; the
customer's Refresh only re-read our database; a numeric-coded refusal did not name the panel's
limits; a BRL panel was sold as USD.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from sandbox.panel_simulator import PROFILES, PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import FakeTelegramServer, run_fake_telegram
from tests.e2e.conftest import ADMIN_ID, SIM_KEY, Shop
from tests.e2e.flows import fill_followers_form


@pytest.fixture(params=PROFILES)
def sim_state(request: pytest.FixtureRequest) -> PanelState:
    return PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0, profile=request.param)


@pytest.fixture
async def shop_servers(sim_state: PanelState) -> AsyncIterator[tuple[FakeTelegramServer, SimulatorHandle]]:
    """The admin has a chat with the bot before it starts: alerts at start-up reach them."""
    async with run_fake_telegram() as tg, run_panel_simulator(sim_state) as sim:
        tg.add_user(ADMIN_ID, "Boss")
        yield tg, sim


async def test_order_and_tracking_flow_on_every_profile(shop: Shop, sim_state: PanelState) -> None:
    if sim_state.profile == "other_currency":
        await shop.restart(panel_currency_rate=Decimal("0.2"))  # 1 BRL is worth 0.20 USD
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop, quantity="1000")
    await ann.press("Confirm")
    await ann.wait_for_message(contains="is placed", timeout=10)
    upstream = next(iter(sim_state.orders))
    sim_state.advance(upstream, status="In progress", start_count=120)
    await ann.wait_for_message(contains="has started", timeout=10)
    sim_state.make_partial(upstream, remains=250)
    partial = await ann.wait_for_message(contains="only partly delivered", timeout=10)
    assert "was returned" in partial.text
    if sim_state.profile == "no_bulk":
        asked = [p for a, p in sim_state.requests if a == "status"]
        assert sum("orders" in p for p in asked) == 1 < len(asked)  # tried once, then one by one
    balance, ledger = await shop.balance(1001)
    assert balance == ledger


@pytest.mark.parametrize("sim_state", ["no_bulk"], indirect=True)
async def test_refresh_asks_the_panel(shop: Shop, sim_state: PanelState) -> None:
    await shop.restart(poll_interval_seconds=3600)  # the poller stays out of it
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop)
    await ann.press("Confirm")
    placed = await ann.wait_for_message(contains="is placed", timeout=10)
    upstream = next(iter(sim_state.orders))
    sim_state.advance(upstream, status="In progress", start_count=77)
    asked = sim_state.count("status")
    await ann.press("Refresh", placed)
    fresh = await ann.wait_for_message(contains="Start count: 77", timeout=10)
    assert "Order #" in fresh.text
    assert sim_state.count("status") == asked + 1


@pytest.mark.parametrize("sim_state", ["codes"], indirect=True)
async def test_coded_refusal_names_the_panels_real_minimum(shop: Shop, sim_state: PanelState) -> None:
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop, quantity="1000")
    service = sim_state.service("1")
    assert service is not None
    service["min"] = "5000"  # raised upstream after our last catalog sync
    await ann.press("Confirm")
    refused = await ann.wait_for_message(contains="minimum of 5000", timeout=10)
    assert "returned" in refused.text or "refund" in refused.text.lower()
    assert await shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))


@pytest.mark.parametrize("sim_state", ["other_currency"], indirect=True)
async def test_another_currency_without_a_rate_sells_nothing(shop: Shop, sim_state: PanelState) -> None:
    admin = shop.tg.user(ADMIN_ID)
    ann = shop.user(1001, "Ann")
    await shop.fund(1001, "10")
    await fill_followers_form(shop, quantity="1000")
    await ann.press("Confirm")
    await ann.wait_for_message(contains="Orders are paused", timeout=10)
    assert sim_state.count("add") == 0
    assert await shop.balance(1001) == (Decimal("10.0000"), Decimal("10.0000"))
    alert = await admin.wait_for_message(contains="PANEL_CURRENCY_RATE", timeout=20)
    assert "BRL" in alert.text and "USD" in alert.text
