"""Simulator behaviour: validation order, charges, lifecycles, HTTP surface, CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from bot.panel import (
    AddOrder,
    BadLink,
    BadRequest,
    DripfeedUnsupported,
    DuplicateActiveOrder,
    InvalidApiKey,
    NotEnoughFunds,
    PanelClient,
    PanelError,
    QuantityOutOfRange,
    StatusGroup,
    UnknownService,
)
from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator

from . import conftest as c

LINK = "https://instagram.com/p/xyz"
REPO_ROOT = Path(__file__).resolve().parents[2]


# -- validation order -----------------------------------------------------------


async def test_key_checked_before_action(sim: SimulatorHandle) -> None:
    async with PanelClient(sim.url, "wrong", max_requests_per_second=0) as client:
        with pytest.raises(InvalidApiKey):
            await client._read("no_such_action", {})


async def test_unknown_action(client: PanelClient) -> None:
    with pytest.raises(BadRequest):
        await client._read("no_such_action", {})


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # bad service AND bad link -> service first
        (AddOrder(service_id="9999", link="bad link", quantity=1), UnknownService),
        # missing required field AND bad link -> fields first
        (AddOrder(service_id=c.DEFAULT, link="bad link"), BadRequest),
        (AddOrder(service_id=c.MENTIONS, link="bad link", quantity=100), BadRequest),  # no usernames
        # drip-feed on a non drip-feed service AND bad link -> fields first
        (
            AddOrder(service_id=c.PLAIN, link="bad link", quantity=100, runs=2, interval=5),
            DripfeedUnsupported,
        ),
        # bad link AND bad quantity -> link first
        (AddOrder(service_id=c.DEFAULT, link="ftp://x.test/a", quantity=1), BadLink),
        # quantity AND funds -> quantity first
        (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=20_000), QuantityOutOfRange),
        # funds AND duplicate -> funds first
        (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10_000), NotEnoughFunds),
    ],
)
async def test_add_validation_order(
    client: PanelClient, state: PanelState, order: AddOrder, expected: type[PanelError]
) -> None:
    await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))  # makes LINK a duplicate
    state.balance = Decimal("5")
    with pytest.raises(expected) as caught:
        await client.add(order)
    assert type(caught.value) is expected
    assert len(state.orders) == 1


async def test_quantity_error_carries_bounds(client: PanelClient) -> None:
    with pytest.raises(QuantityOutOfRange) as low:
        await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=5))
    assert low.value.min_allowed == 10
    with pytest.raises(QuantityOutOfRange) as high:
        await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10_001))
    assert high.value.max_allowed == 10_000


async def test_duplicate_only_while_unfinished(client: PanelClient, state: PanelState) -> None:
    first = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))
    with pytest.raises(DuplicateActiveOrder):
        await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))
    # another service may target the same link
    await client.add(AddOrder(service_id=c.PLAIN, link=LINK, quantity=100))
    state.complete(first)
    assert await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10, runs=2), "Interval time is required"),
        (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10, interval=5), "Runs is required"),
        (AddOrder(service_id=c.PLAIN, link=LINK, quantity=100, runs=2, interval=5), "Dripfeed"),
    ],
)
async def test_dripfeed_validation(client: PanelClient, order: AddOrder, message: str) -> None:
    with pytest.raises(DripfeedUnsupported, match=message):
        await client.add(order)


async def test_dripfeed_limits_apply_to_total(client: PanelClient, state: PanelState) -> None:
    # 5 per run is below min 10, but 5 × 3 = 15 is fine
    order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=5, runs=3, interval=1))
    assert state.orders[order_id].quantity == 15
    with pytest.raises(QuantityOutOfRange) as caught:
        await client.add(AddOrder(service_id=c.DEFAULT, link=LINK + "/2", quantity=4000, runs=3, interval=1))
    assert caught.value.max_allowed == 10_000


@pytest.mark.parametrize(
    ("service", "link", "ok"),
    [
        (c.DEFAULT, "@durov", True),
        (c.DEFAULT, "http://t.me/durov", True),
        (c.DEFAULT, "https://", False),
        (c.DEFAULT, "instagram.com/p/x", False),
        (c.DEFAULT, "https://x.test/a b", False),
        (c.DEFAULT, "@", False),
        (c.SEO, "@durov", False),
        (c.WEB_TRAFFIC, "@durov", False),
    ],
)
async def test_link_rules(client: PanelClient, service: str, link: str, ok: bool) -> None:
    if service == c.SEO:
        order = AddOrder(service_id=service, link=link, quantity=1000, keywords="smm panel")
    elif service == c.WEB_TRAFFIC:
        order = AddOrder(
            service_id=service, link=link, quantity=1000, country="US", device=1, type_of_traffic=3
        )
    else:
        order = AddOrder(service_id=service, link=link, quantity=1000)
    if ok:
        assert await client.add(order)
    else:
        with pytest.raises(BadLink):
            await client.add(order)


@pytest.mark.parametrize(
    ("order", "expected", "message"),
    [
        (AddOrder(service_id=c.SUBSCRIPTIONS, username="u", min=10, max=20, delay=7), PanelError, "delay"),
        (
            AddOrder(service_id=c.SUBSCRIPTIONS, username="u", min=10, max=20, delay=0, expiry="2099-12-31"),
            PanelError,
            "expiry",
        ),
        (
            AddOrder(service_id=c.SUBSCRIPTIONS, username="u", min=30, max=20, delay=0),
            QuantityOutOfRange,
            "Incorrect quantity",
        ),
        (
            AddOrder(service_id=c.SUBSCRIPTIONS, username="u", min=5, max=20, delay=0),
            QuantityOutOfRange,
            "less than minimal 10",
        ),
        (AddOrder(service_id=c.SUBSCRIPTIONS, min=10, max=20, delay=0), BadRequest, "username"),
        (
            AddOrder(
                service_id=c.WEB_TRAFFIC, link=LINK, quantity=1000, country="US", device=1, type_of_traffic=1
            ),
            BadRequest,
            "google_keyword",
        ),
        (
            AddOrder(
                service_id=c.WEB_TRAFFIC, link=LINK, quantity=1000, country="US", device=9, type_of_traffic=3
            ),
            PanelError,
            "device",
        ),
        (AddOrder(service_id=c.POLL, link=LINK, quantity=100, answer_number=0), PanelError, "answer"),
        (
            AddOrder(service_id=c.CUSTOM_COMMENTS, link=LINK, comments="only one\n\n"),
            QuantityOutOfRange,
            "less than minimal 2",
        ),
    ],
)
async def test_type_specific_validation(
    client: PanelClient, state: PanelState, order: AddOrder, expected: type[PanelError], message: str
) -> None:
    with pytest.raises(expected, match=message) as caught:
        await client.add(order)
    assert isinstance(caught.value, expected)
    assert state.orders == {}


# -- charges ------------------------------------------------------------------

CHARGES: list[tuple[AddOrder, str, int]] = [
    (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=100), "0.1000", 100),
    (AddOrder(service_id=c.DEFAULT, link=LINK, quantity=100, runs=3, interval=15), "0.3000", 300),
    (AddOrder(service_id=c.PLAIN, link=LINK, quantity=333), "0.1665", 333),
    (AddOrder(service_id=c.PACKAGE, link=LINK), "5.0000", 1),
    (AddOrder(service_id=c.SEO, link=LINK, quantity=1000, keywords="smm\npanel"), "2.0000", 1000),
    (AddOrder(service_id=c.CUSTOM_COMMENTS, link=LINK, comments="Nice!\r\n\r\nWow\nGreat  \n"), "0.0360", 3),
    (AddOrder(service_id=c.CC_PACKAGE, link=LINK, comments="a\nb\nc\nd"), "3.5000", 4),
    (AddOrder(service_id=c.MENTIONS, link=LINK, quantity=200, usernames="a\nb"), "1.2000", 200),
    (
        AddOrder(service_id=c.MENTIONS_HASHTAGS, link=LINK, quantity=100, usernames="a", hashtags="#x\n#y"),
        "0.7000",
        100,
    ),
    (AddOrder(service_id=c.MENTIONS_CUSTOM_LIST, link=LINK, usernames="a\nb\nc"), "0.0270", 3),
    (AddOrder(service_id=c.MENTIONS_HASHTAG, link=LINK, quantity=100, hashtag="travel"), "0.6500", 100),
    (
        AddOrder(service_id=c.MENTIONS_USER_FOLLOWERS, link=LINK, quantity=100, username="https://x.test/u"),
        "0.6500",
        100,
    ),
    (
        AddOrder(service_id=c.MENTIONS_MEDIA_LIKERS, link=LINK, quantity=100, media="https://x.test/m"),
        "0.6500",
        100,
    ),
    (AddOrder(service_id=c.COMMENT_LIKES, link=LINK, quantity=50, username="owner"), "0.2000", 50),
    (AddOrder(service_id=c.COMMENT_REPLIES, link=LINK, username="owner", comments="r1\nr2"), "0.0300", 2),
    (AddOrder(service_id=c.POLL, link=LINK, quantity=100, answer_number=2), "0.2500", 100),
    (
        AddOrder(service_id=c.INVITES, link=LINK, quantity=100, groups="https://t.me/a\nhttps://t.me/b"),
        "0.5000",
        100,
    ),
    (
        AddOrder(
            service_id=c.WEB_TRAFFIC,
            link=LINK,
            quantity=1000,
            country="US",
            device=2,
            type_of_traffic=2,
            referring_url="https://ref.test",
        ),
        "0.6000",
        1000,
    ),
    (
        AddOrder(
            service_id=c.WEB_TRAFFIC,
            link=LINK,
            quantity=1000,
            runs=2,
            interval=60,
            country="US",
            device=5,
            type_of_traffic=1,
            google_keyword="buy followers",
        ),
        "1.2000",
        2000,
    ),
    (AddOrder(service_id=c.SMART_CUSTOM_COMMENTS, link=LINK, comments="x\ny"), "0.0200", 2),
]


@pytest.mark.parametrize(("order", "charge", "quantity"), CHARGES)
async def test_charge_per_type(
    client: PanelClient, state: PanelState, order: AddOrder, charge: str, quantity: int
) -> None:
    before = state.balance
    order_id = await client.add(order)
    assert state.balance == before - Decimal(charge)
    record = state.orders[order_id]
    assert record.quantity == quantity
    status = await client.status(order_id)
    assert status.charge == Decimal(charge)
    assert record.params["service"] == order.service_id


def test_every_type_has_a_charge_case() -> None:
    types = {c.make_catalog()[int(o.service_id) - 1]["type"].lower() for o, _, _ in CHARGES}
    assert {s["type"].lower() for s in c.make_catalog()} - types == {"subscriptions"}


async def test_subscription_charged_per_child(client: PanelClient, state: PanelState) -> None:
    before = state.balance
    order_id = await client.add(
        AddOrder(
            service_id=c.SUBSCRIPTIONS, username="watched", min=100, max=200, posts=4, old_posts=1, delay=30
        )
    )
    assert state.balance == before  # nothing charged up front
    state.tick()  # first tick: one new post + one old post back-filled
    record = state.orders[order_id]
    assert len(record.children) == 2
    child_total = sum(state.orders[child].quantity for child in record.children)
    expected = sum(
        (Decimal("2") * state.orders[child].quantity / 1000).quantize(Decimal("0.0001"))
        for child in record.children
    )
    assert 200 <= child_total <= 400
    assert state.balance == before - expected
    assert record.charge == expected
    assert (await client.status(order_id)).charge == expected


async def test_subscription_pauses_without_funds_and_expires(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(
        AddOrder(
            service_id=c.SUBSCRIPTIONS, username="watched", min=500, max=500, delay=0, expiry="01/02/2030"
        )
    )
    state.balance = Decimal("0.5")  # one child costs 1.0
    state.tick()
    assert (await client.status(order_id)).status_raw == "Paused"
    state.balance = Decimal("10")
    state.tick()
    status = await client.status(order_id)
    assert status.status_raw == "Active" and status.posts == 1
    state.today = date(2030, 2, 2)
    state.tick()
    status = await client.status(order_id)
    assert status.status_raw == "Expired"
    assert status.status is StatusGroup.COMPLETED
    assert status.expiry == "01/02/2030"


# -- lifecycle ------------------------------------------------------------------


async def test_lifecycle_to_completed(client: PanelClient, state: PanelState) -> None:
    order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=100))
    seen = []
    for _ in range(5):
        status = await client.status(order_id)
        seen.append((status.status_raw, status.remains))
        state.tick()
    assert seen[:4] == [("Pending", 100), ("Processing", 100), ("In progress", 100), ("In progress", 50)]
    assert seen[4] == ("Completed", 0)
    final = await client.status(order_id)
    assert final.start_count is not None and final.start_count > 0
    assert final.status is StatusGroup.COMPLETED


async def test_lifecycle_to_partial_refunds_pro_rata(client: PanelClient, state: PanelState) -> None:
    state.partial_chance = 1.0
    before = state.balance
    order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=1000))
    for _ in range(6):
        state.tick()
    status = await client.status(order_id)
    assert status.status is StatusGroup.PARTIAL
    assert status.remains is not None and 0 < status.remains < 1000
    refund = (Decimal("1.0000") * status.remains / 1000).quantize(Decimal("0.0001"))
    assert state.balance == before - Decimal("1.0000") + refund


async def test_make_partial_and_cancel_now(client: PanelClient, state: PanelState) -> None:
    before = state.balance
    a = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=1000))
    b = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK + "/b", quantity=500))
    state.make_partial(a, 250)
    state.cancel_now(b)
    result = await client.statuses([a, b])
    sa, sb = result[a], result[b]
    assert not isinstance(sa, PanelError) and not isinstance(sb, PanelError)
    assert (sa.status, sa.remains) == (StatusGroup.PARTIAL, 250)
    assert (sb.status, sb.remains) == (StatusGroup.CANCELED, 500)
    assert state.balance == before - Decimal("1.0000") + Decimal("0.2500")
    state.tick()  # final orders stay put
    assert state.orders[a].status == "Partial" and state.orders[b].status == "Canceled"


async def test_clock_ticks_automatically(state: PanelState) -> None:
    async with (
        run_panel_simulator(state) as handle,
        PanelClient(handle.url, c.API_KEY, max_requests_per_second=0) as client,
    ):
        order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))
        state.start_clock(0.01)
        for _ in range(100):
            if (await client.status(order_id)).status.is_final:
                break
            await asyncio.sleep(0.01)
        assert (await client.status(order_id)).status is StatusGroup.COMPLETED
    assert state._clock is None  # stopped with the server


# -- HTTP surface ---------------------------------------------------------------


async def test_query_string_and_form_like_php_request(sim: SimulatorHandle, state: PanelState) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.url, params={"key": c.API_KEY, "action": "balance"}) as response:
            assert (await response.json())["balance"] == "1000.0000"
        # $_REQUEST: the POST body wins over the query string
        async with session.post(
            sim.url, params={"action": "services"}, data={"key": c.API_KEY, "action": "balance"}
        ) as response:
            assert (await response.json())["currency"] == "USD"
    assert [action for action, _ in state.requests] == ["balance", "balance"]


async def test_custom_path_and_pp_flavor() -> None:
    state = PanelState(api_key="k", catalog=c.make_catalog(), flavor="pp")
    async with run_panel_simulator(state, path="/api/v2") as handle:
        assert handle.url.endswith("/api/v2") and str(handle.port) in handle.url
        async with aiohttp.ClientSession() as session:
            async with session.post(handle.url, data={"key": "x", "action": "balance"}) as response:
                assert await response.json() == {"error": "Invalid API key"}
            form = {"key": "k", "action": "add", "service": c.DEFAULT, "link": LINK, "quantity": "10"}
            async with session.post(handle.url, data=form) as response:
                assert await response.json() == {"order": 1000}


async def test_error_http_status_knob(client: PanelClient, state: PanelState, sim: SimulatorHandle) -> None:
    state.error_http_status = 422
    async with (
        aiohttp.ClientSession() as session,
        session.post(sim.url, data={"key": c.API_KEY, "action": "add", "service": "404"}) as response,
    ):
        assert response.status == 422
    with pytest.raises(UnknownService):
        await client.add(AddOrder(service_id="404", link=LINK, quantity=10))


async def test_sim_control_endpoints(client: PanelClient, sim: SimulatorHandle, state: PanelState) -> None:
    order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=10))
    base = sim.url.removesuffix("/api/v3")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/_sim/tick") as response:
            summary = await response.json()
        assert summary["orders_by_status"] == {"Processing": 1}
        assert summary["ticks"] == 1
        async with session.get(f"{base}/_sim/state") as response:
            summary = await response.json()
    assert summary["orders"] == 1 and summary["balance"] == "999.9900"
    assert state.orders[order_id].status == "Processing"


def test_unknown_fault_mode_rejected() -> None:
    with pytest.raises(ValueError):
        PanelState().inject_fault("add", "explode")


async def test_cli_runs_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.panel_simulator",
        "--port",
        "0",
        "--key",
        "cli-key",
        "--catalog",
        "generated",
        "--services",
        "40",
        "--balance",
        "50",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        assert "listening on http://127.0.0.1:" in line and "(40 services)" in line
        url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        async with PanelClient(url, "cli-key", max_requests_per_second=0) as client:
            assert (await client.balance()).amount == Decimal("50")
            assert len(await client.services()) == 40
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        rest = (await process.stdout.read()).decode()
        assert "stopped" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_cancel_dripfeed_parent_cancels_children(client: PanelClient, state: PanelState) -> None:
    before = state.balance
    order_id = await client.add(AddOrder(service_id=c.DEFAULT, link=LINK, quantity=100, runs=4, interval=5))
    state.tick()
    state.tick()
    await client.cancel_one(order_id)
    state.tick()
    status = await client.status(order_id)
    assert status.status is StatusGroup.CANCELED
    assert status.remains == 400
    assert len(status.child_orders) == 2
    children = await client.statuses(list(status.child_orders))
    assert all(not isinstance(ch, PanelError) and ch.status.is_final for ch in children.values())
    assert state.balance == before


async def test_cancel_subscription_refunds_undelivered_children(
    client: PanelClient, state: PanelState
) -> None:
    order_id = await client.add(
        AddOrder(service_id=c.SUBSCRIPTIONS, username="watched", min=100, max=100, delay=0)
    )
    state.tick()  # one child, charged 0.2
    charged = state.orders[order_id].charge
    assert charged == Decimal("0.2000")
    before = state.balance
    await client.cancel_one(order_id)
    state.tick()
    assert (await client.status(order_id)).status is StatusGroup.CANCELED
    assert state.balance == before + charged  # the child had not been delivered yet
