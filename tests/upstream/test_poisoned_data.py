"""Upstream data never takes the shop down: one absurd catalog entry or status affects only itself.

Each test failed before bot/panel/bounds.py: the sync or the status batch raised on the database
(an integer beyond 64 bits, a text longer than its column on PostgreSQL) and rolled back everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from bot.panel import PanelClient
from bot.panel.bounds import MAX_COUNT, OutOfBounds
from bot.panel.parsing import parse_order_status, parse_service
from bot.services.catalog import CatalogService
from bot.services.tracking import StatusPoller
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from storage.models import Notification, OrderState, Service
from tests.tracking.conftest import API_KEY, make_catalog
from tests.tracking.helpers import Factory, get_order, insert_active, later, make_user

ADMINS = (900, 901)


def poisoned_catalog() -> list[dict[str, Any]]:
    good = make_catalog()
    base = dict(good[1])
    poison = [
        {**base, "service": "101", "name": "Huge max", "max": "1e30"},
        {**base, "service": "102", "name": "Long type", "type": "T" * 200},
        {**base, "service": "103", "name": "Long rate", "rate": "0." + "1" * 48},
        {**base, "service": "9" * 40, "name": "Long id"},
        {**base, "service": "105", "name": "Junk rate", "rate": "cheap"},
        {**base, "service": "106", "name": "Absurd rate", "rate": "1e30"},
        {**base, "service": "107", "name": "Junk min", "min": "1e99999999"},
        "not even an object",
    ]
    return [good[0], *poison, *good[1:]]


def test_service_fields_are_bounded() -> None:
    base = make_catalog()[1]
    notes: list[str] = []
    clamped = parse_service({**base, "max": "1e30"}, notes)
    assert clamped.max == MAX_COUNT and notes and "clamped" in notes[0]
    rounded = parse_service({**base, "rate": "0." + "1" * 48})
    assert rounded.rate == Decimal("0.11111112")  # rounded up: never under the panel's price
    for bad in ({"type": "x" * 200}, {"service": "9" * 40}, {"rate": "1e30"}, {"min": "1e99999999"}):
        with pytest.raises(OutOfBounds):
            parse_service({**base, **bad})


def test_status_fields_are_bounded() -> None:
    fine = parse_order_status("1", {"status": "Partial", "remains": "-5", "charge": 0.5, "start_count": None})
    assert (fine.remains, fine.charge) == (-5, Decimal("0.5"))
    for bad in (
        {"remains": "1e30"},
        {"start_count": "1" * 60},
        {"charge": "1." + "0" * 60},
        {"charge": "1e30"},
        {"remains": "1e999999999"},
    ):
        with pytest.raises(OutOfBounds):
            parse_order_status("1", {"status": "In progress", **bad})


@pytest.fixture
async def poisoned_sim() -> AsyncIterator[SimulatorHandle]:
    state = PanelState(api_key=API_KEY, catalog=poisoned_catalog(), balance="100000", partial_chance=0.0)
    async with run_panel_simulator(state) as handle:
        yield handle


async def test_poisoned_catalog_syncs_the_rest_and_tells_admins_once(
    session_factory: Factory, poisoned_sim: SimulatorHandle
) -> None:
    async with PanelClient(poisoned_sim.url, API_KEY, max_requests_per_second=0) as panel:
        catalog = CatalogService(session_factory, panel, default_markup=Decimal("0"), admin_ids=ADMINS)
        report = await catalog.refresh()
        assert report.total == 5  # three good services plus the two clamped ones
        await catalog.refresh()  # the next sync reports nothing new
    async with session_factory() as session:
        ids = set((await session.execute(select(Service.service_id))).scalars())
        alerts = list((await session.execute(select(Notification))).scalars())
    assert ids == {"1", "2", "3", "101", "103"}
    by_alert: dict[str, set[str]] = {}
    for row in alerts:
        by_alert.setdefault(row.payload["alert"], set()).add(str(row.payload["service"]))
        assert row.kind == "admin_alert" and row.user_id in ADMINS
    assert by_alert["clamped_service"] == {"101", "103"}
    assert by_alert["bad_service"] == {"102", "9" * 40, "105", "106", "107", "#9"}
    # each problem once per admin, though the catalog was synced twice
    assert len(alerts) == 2 * (len(by_alert["clamped_service"]) + len(by_alert["bad_service"]))


async def test_poisoned_statuses_affect_only_their_own_orders(
    session_factory: Factory, state: PanelState, panel: PanelClient
) -> None:
    await make_user(session_factory)
    ids = await insert_active(session_factory, state, 6)
    upstream = {}
    for order_id in ids:
        upstream[order_id] = (await get_order(session_factory, order_id)).upstream_id
    bad = {
        ids[1]: {"remains": "1e30"},
        ids[3]: {"start_count": "7" * 60},
        ids[4]: {"charge": "1." + "0" * 60},
    }
    for order_id, fields in bad.items():
        state.status_overrides[str(upstream[order_id])] = fields
    for sim_order in state.orders.values():
        sim_order.status = "Completed"
        sim_order.remains = 0
    poller = StatusPoller(session_factory, panel, admin_ids=ADMINS)
    report = await poller.poll_once(now=later())
    assert (report.asked, report.errors, report.finalised) == (6, 3, 3)
    for order_id in ids:
        order = await get_order(session_factory, order_id)
        if order_id in bad:
            assert (order.state, order.upstream_status, order.remains) == (OrderState.ACTIVE, "Pending", 100)
        else:
            assert order.state == OrderState.COMPLETED
    await poller.poll_once(now=later(30))  # asked again, still poisoned: no second alert
    async with session_factory() as session:
        alerts = list(
            (await session.execute(select(Notification).where(Notification.kind == "admin_alert"))).scalars()
        )
    assert sorted((row.order_id, row.user_id) for row in alerts) == sorted(
        (order_id, admin) for order_id in bad for admin in ADMINS
    )
    assert all(row.payload["alert"] == "bad_status" for row in alerts)
