"""Typing drift and shape variants of the panel family (family doc §1, §3)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.panel import (
    AddOrder,
    BadLink,
    CancelRefused,
    InvalidApiKey,
    NotEnoughFunds,
    OrderNotFound,
    OrderStatus,
    PanelClient,
    QuantityOutOfRange,
    RefillRefused,
    RefillState,
    RefillStatus,
    StatusGroup,
    UpstreamUnavailable,
)
from sandbox.panel_simulator import PanelState

from .conftest import DEFAULT, RawPanel

LINK = "https://t.me/channel/5"


# -- raw shapes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"order": 23501}, {"order": "23501"}, {"status": "success", "order": 23501}, {"order": 23501.0}],
)
async def test_add_reply_shapes(raw_panel: RawPanel, raw_client: PanelClient, body: dict[str, Any]) -> None:
    raw_panel.reply("add", body, status=201 if "status" in body else 200)
    assert await raw_client.add(AddOrder(service_id="1", link=LINK, quantity=10)) == "23501"


async def test_pp_canonical_status_with_numbers(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "status",
        {"charge": 0.27819, "start_count": 3572, "status": "Partial", "remains": 157, "currency": "USD"},
    )
    status = await raw_client.status("23501")
    assert status.order_id == "23501"
    assert status.charge == Decimal("0.27819")
    assert status.start_count == 3572
    assert status.remains == 157
    assert status.status is StatusGroup.PARTIAL


async def test_status_null_and_unknown_counters(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "status", '{"charge":"1.5","start_count":null,"status":"In progress","remains":"Unknown"}'
    )
    status = await raw_client.status("1")
    assert status.start_count is None
    assert status.remains is None
    assert status.status is StatusGroup.RUNNING


async def test_multi_status_pp_error_objects(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "status:multi",
        {
            "1": {
                "charge": "0.27819",
                "start_count": "3572",
                "status": "Partial",
                "remains": "157",
                "currency": "USD",
            },
            "10": {"error": "Incorrect order ID"},
        },
    )
    result = await raw_client.statuses(["1", "10", "100"])
    assert isinstance(result["1"], OrderStatus) and result["1"].remains == 157
    assert isinstance(result["10"], OrderNotFound)
    assert isinstance(result["100"], OrderNotFound)  # missing from the reply


async def test_multi_status_as_list(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "status:multi",
        [
            {"order": 1, "status": "Completed", "charge": 1.2, "remains": 0},
            {"order": "2", "error": "Incorrect order ID"},
            {"order": 3, "status": {"error": "Incorrect order ID"}},
        ],
    )
    result = await raw_client.statuses(["1", "2", "3"])
    assert isinstance(result["1"], OrderStatus) and result["1"].status is StatusGroup.COMPLETED
    assert result["1"].charge == Decimal("1.2")
    assert isinstance(result["2"], OrderNotFound)
    assert isinstance(result["3"], OrderNotFound)


async def test_pp_multi_refill_refill_status_cancel(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "refill:multi",
        [
            {"order": 1, "refill": 1},
            {"order": 2, "refill": "2"},
            {"order": 3, "refill": {"error": "Incorrect order ID"}},
        ],
    )
    raw_panel.reply(
        "refill_status:multi",
        [
            {"refill": 1, "status": "Completed"},
            {"refill": 2, "status": "Rejected"},
            {"refill": 3, "status": {"error": "Refill not found"}},
        ],
    )
    raw_panel.reply(
        "cancel:multi", [{"order": 9, "cancel": {"error": "Incorrect order ID"}}, {"order": 2, "cancel": 1}]
    )
    refills = await raw_client.refills(["1", "2", "3"])
    assert refills == {"1": "1", "2": "2", "3": refills["3"]}
    assert isinstance(refills["3"], OrderNotFound)
    statuses = await raw_client.refill_statuses(["1", "2", "3"])
    assert statuses["1"] == RefillStatus("1", RefillState.COMPLETED, "Completed")
    assert statuses["2"] == RefillStatus("2", RefillState.REJECTED, "Rejected")
    assert isinstance(statuses["3"], RefillRefused)
    cancels = await raw_client.cancel(["9", "2"])
    assert isinstance(cancels["9"], OrderNotFound)
    assert cancels["2"] is None


@pytest.mark.parametrize("body", [{"refill": "1"}, {"refill": 1}])
async def test_refill_pp_shapes(raw_panel: RawPanel, raw_client: PanelClient, body: dict[str, Any]) -> None:
    raw_panel.reply("refill", body)
    assert await raw_client.refill("5") == "1"


@pytest.mark.parametrize("body", [{"cancel": 1}, {"cancel": "1"}, {"cancel": True}, {"success": "ok"}])
async def test_cancel_one_accepted_shapes(
    raw_panel: RawPanel, raw_client: PanelClient, body: dict[str, Any]
) -> None:
    raw_panel.reply("cancel", body)
    await raw_client.cancel_one("5")  # no exception: accepted
    assert raw_panel.requests[-1]["order"] == "5"


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"cancel": 0}, CancelRefused), ({"cancel": {"error": "Incorrect order ID"}}, OrderNotFound)],
)
async def test_cancel_one_refused_shapes(
    raw_panel: RawPanel, raw_client: PanelClient, body: dict[str, Any], expected: type[Exception]
) -> None:
    raw_panel.reply("cancel", body)
    with pytest.raises(expected):
        await raw_client.cancel_one("5")


async def test_balance_pp_shape_and_float(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("balance", {"balance": 100.84292, "currency": "EUR"})
    balance = await raw_client.balance()
    assert balance.amount == Decimal("100.84292")
    assert balance.currency == "EUR"


@pytest.mark.parametrize(
    ("true_form", "false_form"),
    [(True, False), (1, 0), ("1", "0"), ("true", "false"), ("yes", "no"), ("True", None)],
)
async def test_service_booleans_in_every_form(
    raw_panel: RawPanel, raw_client: PanelClient, true_form: Any, false_form: Any
) -> None:
    raw_panel.reply(
        "services",
        [
            {
                "service": 1,
                "name": "A",
                "category": "C",
                "type": "Default",
                "rate": 0.5,
                "min": 10,
                "max": "100",
                "dripfeed": true_form,
                "refill": false_form,
                "cancel": true_form,
                "desc": "d",
            }
        ],
    )
    (service,) = await raw_client.services()
    assert (service.dripfeed, service.refill, service.cancel) == (True, False, True)
    assert service.service_id == "1"
    assert service.rate == Decimal("0.5")
    assert service.description == "d"


async def test_services_skips_malformed_entries(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply(
        "services",
        [
            {"service": "1", "rate": "1", "name": "ok"},
            "junk",
            {"name": "no id", "rate": "1"},
            {"service": "3", "rate": "n/a"},
            {"service": "4", "rate": "2.5", "name": "ok too"},
        ],
    )
    assert [s.service_id for s in await raw_client.services()] == ["1", "4"]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (422, {"error": "Quantity less than minimal 100"}, QuantityOutOfRange),
        (422, {"error": "Incorrect link"}, BadLink),
        (401, {"error": "Your account has been suspended."}, InvalidApiKey),
        (422, {"message": "Not enough funds on balance"}, NotEnoughFunds),
    ],
)
async def test_laravel_4xx_json_errors_are_classified(
    raw_panel: RawPanel, raw_client: PanelClient, status: int, body: dict[str, str], expected: type[Exception]
) -> None:
    raw_panel.reply("add", body, status=status)
    with pytest.raises(expected):
        await raw_client.add(AddOrder(service_id="1", link=LINK, quantity=10))
    assert raw_panel.count("add") == 1


async def test_4xx_html_is_transient_for_reads(raw_panel: RawPanel, raw_client: PanelClient) -> None:
    raw_panel.reply("balance", "<html>Not found</html>", status=404, content_type="text/html")
    with pytest.raises(UpstreamUnavailable) as caught:
        await raw_client.balance()
    assert "text/html" in caught.value.reason
    assert raw_panel.count("balance") == 3  # 1 + read_retries


async def test_form_body_and_user_agent(raw_panel: RawPanel) -> None:
    raw_panel.reply("balance", {"balance": "1", "currency": "USD"})
    async with PanelClient(raw_panel.url, "k", user_agent="Test-UA/1.0", max_requests_per_second=0) as client:
        await client.balance()
    headers = raw_panel.headers[-1]
    assert headers["User-Agent"] == "Test-UA/1.0"
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert raw_panel.requests[-1] == {"key": "k", "action": "balance"}


# -- simulator format faults ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "group"),
    [
        ("In progess", StatusGroup.RUNNING),
        ("inprogress", StatusGroup.RUNNING),
        ("In Progress", StatusGroup.RUNNING),
        ("Cancelled", StatusGroup.CANCELED),
        ("Refunded", StatusGroup.CANCELED),
        ("Fail", StatusGroup.CANCELED),
        ("Error", StatusGroup.CANCELED),
        ("completed", StatusGroup.COMPLETED),
        ("Brand new status", StatusGroup.RUNNING),
    ],
)
async def test_status_spellings_from_simulator(
    client: PanelClient, state: PanelState, raw: str, group: StatusGroup
) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100))
    state.advance(order_id, status=raw)
    status = await client.status(order_id)
    assert status.status_raw == raw
    assert status.status is group
    multi = await client.statuses([order_id])
    entry = multi[order_id]
    assert isinstance(entry, OrderStatus) and entry.status is group


async def test_remains_unknown_negative_and_null_start_count(client: PanelClient, state: PanelState) -> None:
    first = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100))
    second = await client.add(AddOrder(service_id=DEFAULT, link=LINK + "/2", quantity=100))
    state.advance(first, status="In progress", remains="Unknown", start_count=None)
    state.advance(second, status="Completed", remains=-25)
    result = await client.statuses([first, second])
    a, b = result[first], result[second]
    assert isinstance(a, OrderStatus) and isinstance(b, OrderStatus)
    assert a.remains is None and a.start_count is None
    assert b.remains == -25 and b.status is StatusGroup.COMPLETED


async def test_lowercase_statuses_fault(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100))
    state.complete(order_id)
    state.set_fault("status", "lowercase_statuses")
    status = await client.status(order_id)
    assert status.status_raw == "completed"
    assert status.status is StatusGroup.COMPLETED


async def test_numbers_as_numbers_fault(client: PanelClient, state: PanelState, sim: Any) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=333))
    state.set_fault("*", "numbers_as_numbers")
    async with (
        aiohttp.ClientSession() as session,
        session.post(sim.url, data={"key": state.api_key, "action": "status", "order": order_id}) as r,
    ):
        raw = json.loads(await r.text())
    assert raw["charge"] == 0.333 and raw["remains"] == 333 and raw["order"] == int(order_id)
    status = await client.status(order_id)
    assert status.charge == Decimal("0.333")
    assert status.remains == 333
    balance = await client.balance()
    assert balance.amount == Decimal("999.667")
    services = await client.services()
    assert services[0].rate == Decimal("1.0") and services[0].min == 10


async def test_list_instead_of_object_fault(client: PanelClient, state: PanelState, sim: Any) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100))
    state.inject_fault("status", "list_instead_of_object", times=2)
    async with aiohttp.ClientSession() as session:
        form = {"key": state.api_key, "action": "status", "orders": f"{order_id},1"}
        async with session.post(sim.url, data=form) as r:
            raw = json.loads(await r.text())
    assert isinstance(raw, list)
    assert {"order": 1, "error": "Incorrect order ID"} in raw
    result = await client.statuses([order_id, "1"])
    assert isinstance(result[order_id], OrderStatus)
    assert isinstance(result["1"], OrderNotFound)
    assert state.faults == {}  # one-shot fault consumed


async def test_trailing_comma_fault(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100))
    state.set_fault("*", "trailing_comma")
    assert (await client.status(order_id)).remains == 100
    assert (await client.balance()).amount == Decimal("999.9")
    assert state.count("status") == 1 and state.count("balance") == 1
