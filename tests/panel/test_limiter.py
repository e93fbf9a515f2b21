"""The adaptive limiter towards the panel (bot/panel/limiter.py), through the real client against the
simulator's load limits: it backs off on 429 and slow answers, recovers when calm, serves orders
before background reads, and loses no request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.panel import AddOrder, PanelClient
from bot.panel.limiter import AdaptiveLimiter, Priority, QueueTimeout
from sandbox.panel_simulator import PanelState, SimulatorHandle

from .conftest import API_KEY, DEFAULT


def order(n: int) -> AddOrder:
    return AddOrder(service_id=DEFAULT, link=f"https://youtube.com/watch?v=rush{n}", quantity=100)


@pytest.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[PanelClient]:
    async with PanelClient(sim.url, API_KEY, timeout=10.0, max_requests_per_second=0) as panel:
        yield panel


def assert_each_placed_once(state: PanelState, ids: list[str], count: int) -> None:
    assert len(set(ids)) == count
    assert sorted(ids) == sorted(state.orders)
    links = [o.link for o in state.orders.values()]
    assert len(set(links)) == count


async def test_backs_off_on_429_then_recovers_and_no_order_is_lost(
    client: PanelClient, state: PanelState
) -> None:
    start_limit = client.limiter.limit
    state.max_concurrent = 4  # more at once: 429
    state.latency = 0.02
    ids = await asyncio.gather(*(client.add(order(n)) for n in range(60)))
    assert_each_placed_once(state, list(ids), 60)
    assert state.throttled["add"] > 0  # the panel did refuse some...
    assert state.peak_in_flight <= 4
    backed_off = client.limiter.limit
    assert backed_off < start_limit  # ...and the window shrank
    assert client.limiter.stats().throttled == state.throttled["add"]

    state.max_concurrent = None  # the panel is calm again
    await asyncio.gather(*(client.balance() for _ in range(200)))
    assert client.limiter.limit > backed_off + 1
    stats = client.limiter.stats()
    assert stats.in_flight == 0 and stats.waiting == 0


async def test_rate_limited_panel_gets_every_order_once_and_the_rate_settles_below_it(
    sim: SimulatorHandle, state: PanelState
) -> None:
    state.rate_limit = 20  # per second, a 429 with Retry-After above it
    state.latency = 0.01
    async with PanelClient(sim.url, API_KEY, timeout=30.0, max_requests_per_second=0) as panel:
        ids = await asyncio.gather(*(panel.add(order(n)) for n in range(70)))
        rate = panel.limiter.rate
    assert_each_placed_once(state, list(ids), 70)
    assert state.throttled["add"] > 0
    assert rate <= 20  # learned: at most what the panel accepted, from no rate limit at all


async def test_slow_answers_shrink_the_window(client: PanelClient, state: PanelState) -> None:
    state.max_concurrent, state.overload, state.latency = 2, "queue", 0.05  # two workers, a queue
    start_limit = client.limiter.limit
    await asyncio.gather(*(client.balance() for _ in range(60)))
    assert start_limit / 2 <= client.limiter.limit < start_limit  # a soft signal: never below half
    assert client.limiter.stats().throttled == 0


async def test_an_order_is_served_before_queued_status_reads(sim: SimulatorHandle, state: PanelState) -> None:
    async with PanelClient(sim.url, API_KEY, max_requests_per_second=20) as panel:
        placed = await panel.add(order(0))
        state.requests.clear()
        reads = [asyncio.ensure_future(panel.status(placed)) for _ in range(8)]
        await asyncio.sleep(0)  # the reads queue first (one every 50 ms)...
        second = await panel.add(order(1))  # ...then a customer confirms
        await asyncio.gather(*reads)
    actions = [action for action, _ in state.requests]
    assert actions.count("status") == 8
    assert actions.index("add") <= 1  # at most the one read already started went before it
    assert second in state.orders


async def test_waiting_longer_than_max_wait_sends_nothing_and_frees_everything() -> None:
    limiter = AdaptiveLimiter(initial_concurrency=1, max_concurrency=1, max_wait=0.05)
    held = await limiter.slot()
    with pytest.raises(QueueTimeout):
        await limiter.slot(Priority.ORDER)
    waiter = asyncio.ensure_future(limiter.slot())
    await asyncio.sleep(0)
    waiter.cancel()  # a customer's update cancelled while waiting
    with pytest.raises(asyncio.CancelledError):
        await waiter
    async with held:
        pass
    assert limiter.stats().in_flight == 0 and limiter.stats().waiting == 0
    async with await limiter.slot():  # the slot is free again
        assert limiter.stats().in_flight == 1


async def test_retry_after_from_the_panel_is_bounded() -> None:
    limiter = AdaptiveLimiter(max_pause=5.0)
    first, second = await limiter.slot(), await limiter.slot()
    async with first:
        first.answered(429, "86400")  # a day: untrusted, capped
    async with second:
        second.answered(429, "soon")  # garbage: ignored
    assert 4.0 < limiter.pause_left() <= 5.0
