"""The real client against the real simulator: every action, single and multi forms."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from bot.panel import (
    AddOrder,
    Balance,
    CancelRefused,
    OrderNotFound,
    OrderStatus,
    PanelClient,
    RefillRefused,
    RefillState,
    RefillStatus,
    StatusGroup,
)
from sandbox.panel_simulator import PanelState, SimulatorHandle

from .conftest import DEFAULT, PLAIN, SMART_CUSTOM_COMMENTS, SUBSCRIPTIONS, make_catalog

LINK = "https://instagram.com/p/abc"


async def _place(client: PanelClient, quantity: int = 100, link: str = LINK, service: str = DEFAULT) -> str:
    return await client.add(AddOrder(service_id=service, link=link, quantity=quantity))


async def test_services_parses_catalog(client: PanelClient, state: PanelState) -> None:
    services = await client.services()
    assert len(services) == len(make_catalog())
    by_id = {s.service_id: s for s in services}
    assert by_id[DEFAULT].dripfeed and by_id[DEFAULT].refill and by_id[DEFAULT].cancel
    assert not (by_id[PLAIN].dripfeed or by_id[PLAIN].refill or by_id[PLAIN].cancel)
    smart = by_id[SMART_CUSTOM_COMMENTS]
    assert smart.type_key == "custom comments"
    assert (smart.dripfeed, smart.refill, smart.cancel) == (False, True, False)
    assert by_id["18"].dripfeed is True  # "1"
    assert by_id[DEFAULT].rate == Decimal("1.0000")
    assert state.count("services") == 1


@pytest.mark.parametrize("flavor", ["smart", "pp"])
async def test_balance(client: PanelClient, state: PanelState, flavor: str) -> None:
    state.flavor = flavor
    state.balance = Decimal("123.4567")
    assert await client.balance() == Balance(amount=Decimal("123.4567"), currency="USD")


@pytest.mark.parametrize("flavor", ["smart", "pp"])
async def test_add_and_status(client: PanelClient, state: PanelState, flavor: str) -> None:
    state.flavor = flavor
    order_id = await _place(client, quantity=150)
    assert order_id == str(state.next_order_id - 1)
    assert state.orders[order_id].quantity == 150
    status = await client.status(order_id)
    assert status.order_id == order_id
    assert status.status is StatusGroup.PENDING
    assert status.status_raw == "Pending"
    assert status.charge == Decimal("0.1500")
    assert status.remains == 150
    assert status.start_count == 0
    assert status.currency == "USD"
    assert state.requests[-1] == ("status", {"action": "status", "order": order_id})


async def test_status_unknown_order(client: PanelClient) -> None:
    with pytest.raises(OrderNotFound):
        await client.status("999999")


@pytest.mark.parametrize("flavor", ["smart", "pp"])
async def test_statuses_mixed(client: PanelClient, state: PanelState, flavor: str) -> None:
    state.flavor = flavor
    first = await _place(client, link="https://x.test/1")
    second = await _place(client, link="https://x.test/2")
    state.complete(second)
    result = await client.statuses([first, "424242", second, first])
    assert list(result) == [first, "424242", second]
    pending, completed = result[first], result[second]
    assert isinstance(pending, OrderStatus) and pending.status is StatusGroup.PENDING
    assert isinstance(completed, OrderStatus) and completed.status is StatusGroup.COMPLETED
    assert isinstance(result["424242"], OrderNotFound)
    assert state.count("status") == 1
    assert state.requests[-1][1]["orders"] == f"{first},424242,{second}"


async def test_statuses_250_ids_makes_three_calls(client: PanelClient, state: PanelState) -> None:
    real = await _place(client)
    ids = [real] + [str(n) for n in range(1, 250)]
    result = await client.statuses(ids)
    assert state.count("status") == 3
    sizes = [len(params["orders"].split(",")) for action, params in state.requests if action == "status"]
    assert sizes == [100, 100, 50]
    assert len(result) == 250
    assert isinstance(result[real], OrderStatus)
    assert sum(isinstance(v, OrderNotFound) for v in result.values()) == 249


async def test_statuses_empty_makes_no_call(client: PanelClient, state: PanelState) -> None:
    assert await client.statuses([]) == {}
    assert state.count("status") == 0


async def test_simulator_rejects_more_than_100_ids(sim: SimulatorHandle) -> None:
    async with aiohttp.ClientSession() as session:
        ids = ",".join(str(n) for n in range(101))
        async with session.post(
            sim.url, data={"key": sim.state.api_key, "action": "status", "orders": ids}
        ) as r:
            assert (await r.json())["error"]


@pytest.mark.parametrize("flavor", ["smart", "pp"])
async def test_refill_single(client: PanelClient, state: PanelState, flavor: str) -> None:
    state.flavor = flavor
    order_id = await _place(client)
    with pytest.raises(RefillRefused, match="not completed"):
        await client.refill(order_id)
    state.complete(order_id)
    refill_id = await client.refill(order_id)
    created = state.refills_of(order_id)
    assert len(created) == 1
    if flavor == "smart":
        assert refill_id == ""  # SmartPanel answers {"success": ...} without an id
    else:
        assert refill_id == created[0].refill_id
    with pytest.raises(RefillRefused, match="already in progress"):
        await client.refill(order_id)
    with pytest.raises(OrderNotFound):
        await client.refill("31337")


async def test_refill_disabled_service(client: PanelClient, state: PanelState) -> None:
    order_id = await _place(client, service=PLAIN)
    state.complete(order_id)
    with pytest.raises(RefillRefused, match="disabled"):
        await client.refill(order_id)


async def test_refill_lifecycle(client: PanelClient, state: PanelState) -> None:
    state.flavor = "pp"
    order_id = await _place(client)
    state.complete(order_id)
    refill_id = await client.refill(order_id)
    seen = [(await client.refill_status(refill_id)).state]
    for _ in range(2):
        state.tick()
        seen.append((await client.refill_status(refill_id)).state)
    assert seen == [RefillState.PENDING, RefillState.RUNNING, RefillState.COMPLETED]
    # once the refill is done another one may be requested
    assert await client.refill(order_id) != refill_id


async def test_refill_rejected(client: PanelClient, state: PanelState) -> None:
    state.flavor = "pp"
    state.refill_reject_chance = 1.0
    order_id = await _place(client)
    state.make_partial(order_id, 10)  # partial orders may be refilled too
    refill_id = await client.refill(order_id)
    state.tick()
    state.tick()
    status = await client.refill_status(refill_id)
    assert status == RefillStatus(refill_id=refill_id, state=RefillState.REJECTED, status_raw="Rejected")


async def test_refill_status_unknown(client: PanelClient) -> None:
    with pytest.raises(RefillRefused, match="not found"):
        await client.refill_status("999")


async def test_refills_and_refill_statuses_multi(client: PanelClient, state: PanelState) -> None:
    done = await _place(client, link="https://x.test/done")
    running = await _place(client, link="https://x.test/running")
    state.complete(done)
    result = await client.refills([done, running, "777"])
    assert state.count("refill") == 1
    assert state.requests[-1][1]["orders"] == f"{done},{running},777"
    assert result[done] == state.refills_of(done)[0].refill_id
    assert isinstance(result[running], RefillRefused)
    assert isinstance(result["777"], OrderNotFound)
    refill_id = result[done]
    assert isinstance(refill_id, str)
    statuses = await client.refill_statuses([refill_id, "555"])
    assert state.requests[-1][1]["refills"] == f"{refill_id},555"
    assert statuses[refill_id] == RefillStatus(refill_id, RefillState.PENDING, "Pending")
    assert isinstance(statuses["555"], RefillRefused)


async def test_refills_chunked(client: PanelClient, state: PanelState) -> None:
    result = await client.refills([str(n) for n in range(205)])
    assert state.count("refill") == 3
    assert all(isinstance(v, OrderNotFound) for v in result.values())
    statuses = await client.refill_statuses([str(n) for n in range(101)])
    assert state.count("refill_status") == 2
    assert len(statuses) == 101


@pytest.mark.parametrize("flavor", ["smart", "pp"])
async def test_cancel_one_turns_canceled_later(client: PanelClient, state: PanelState, flavor: str) -> None:
    state.flavor = flavor
    before = state.balance
    order_id = await _place(client, quantity=1000)
    assert state.balance == before - Decimal("1.0000")
    await client.cancel_one(order_id)  # no exception: accepted
    # accepted, but not cancelled yet
    assert (await client.status(order_id)).status is StatusGroup.PENDING
    with pytest.raises(CancelRefused, match="already in progress"):
        await client.cancel_one(order_id)
    state.tick()
    status = await client.status(order_id)
    assert status.status is StatusGroup.CANCELED
    assert status.remains == 1000
    assert state.balance == before  # full refund


async def test_cancel_one_refusals(client: PanelClient, state: PanelState) -> None:
    plain = await _place(client, service=PLAIN)
    with pytest.raises(CancelRefused, match="disabled"):
        await client.cancel_one(plain)
    done = await _place(client, link="https://x.test/done")
    state.complete(done)
    with pytest.raises(CancelRefused):
        await client.cancel_one(done)
    with pytest.raises(OrderNotFound):
        await client.cancel_one("4040404")
    assert state.count("cancel") == 3


async def test_cancel_multi(client: PanelClient, state: PanelState) -> None:
    ok = await _place(client, link="https://x.test/ok")
    plain = await _place(client, service=PLAIN, link="https://x.test/plain")
    result = await client.cancel([ok, plain, "9"])
    assert state.count("cancel") == 1
    assert result[ok] is None
    assert isinstance(result[plain], CancelRefused)
    assert isinstance(result["9"], OrderNotFound)
    assert state.orders[ok].status == "Pending"
    state.tick()
    assert state.orders[ok].status == "Canceled"


async def test_cancel_multi_chunked(client: PanelClient, state: PanelState) -> None:
    result = await client.cancel([str(n) for n in range(150)])
    assert state.count("cancel") == 2
    assert len(result) == 150


async def test_dripfeed_parent_reports_runs_and_children(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(AddOrder(service_id=DEFAULT, link=LINK, quantity=100, runs=3, interval=10))
    seen_children: list[tuple[str, ...]] = []
    for _ in range(3):
        state.tick()
        status = await client.status(order_id)
        seen_children.append(status.child_orders)
        assert status.status is StatusGroup.RUNNING
    assert status.runs == 3
    assert len(status.child_orders) == 3
    assert [len(c) for c in seen_children] == [1, 2, 3]
    assert all(state.orders[child].parent_id == order_id for child in status.child_orders)
    assert all(state.orders[child].quantity == 100 for child in status.child_orders)
    for _ in range(6):
        state.tick()
    final = await client.status(order_id)
    assert final.status is StatusGroup.COMPLETED
    assert final.remains == 0
    children = await client.statuses(list(final.child_orders))
    assert all(isinstance(c, OrderStatus) and c.status is StatusGroup.COMPLETED for c in children.values())


async def test_subscription_reports_posts_orders_expiry(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(
        AddOrder(
            service_id=SUBSCRIPTIONS,
            username="somebody",
            min=10,
            max=20,
            posts=3,
            delay=15,
            expiry="31/12/2099",
        )
    )
    status = await client.status(order_id)
    assert status.status is StatusGroup.PENDING
    state.tick()
    status = await client.status(order_id)
    assert status.status_raw == "Active"
    assert status.status is StatusGroup.RUNNING
    assert status.posts == 1
    assert len(status.child_orders) == 1
    assert status.expiry == "31/12/2099"
    for _ in range(10):
        state.tick()
    final = await client.status(order_id)
    assert final.posts == 3
    assert final.status is StatusGroup.COMPLETED
