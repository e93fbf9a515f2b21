"""Transport faults: retries for reads, exactly-once for writes (family doc §1, §4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.panel import (
    AddOrder,
    AddOutcomeUnknown,
    BadLink,
    DuplicateActiveOrder,
    NotEnoughFunds,
    PanelClient,
    RateLimited,
    StatusGroup,
    UpstreamUnavailable,
)
from bot.panel.limiter import AdaptiveLimiter
from sandbox.panel_simulator import PanelState, SimulatorHandle

from .conftest import API_KEY, DEFAULT

LINK = "https://youtube.com/watch?v=abc"
ORDER = AddOrder(service_id=DEFAULT, link=LINK, quantity=100)


@pytest.fixture
async def fast_client(sim: SimulatorHandle) -> AsyncIterator[PanelClient]:
    """Short timeout so hang faults stay cheap."""
    async with PanelClient(
        sim.url, API_KEY, timeout=0.3, max_requests_per_second=0, read_retries=2, retry_backoff=0.01
    ) as panel:
        yield panel


@pytest.mark.parametrize("mode", ["http500", "http429", "html", "empty", "invalid_json", "hang"])
async def test_reads_retry_transient_faults_then_succeed(
    fast_client: PanelClient, state: PanelState, mode: str
) -> None:
    state.inject_fault("balance", mode, times=2, seconds=0.6)
    balance = await fast_client.balance()
    assert balance.amount == 1000
    assert state.count("balance") == 3


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("http500", "HTTP 500"),
        ("http429", "HTTP 429"),
        ("html", "non-JSON body (HTTP 200, text/html"),
        ("empty", "empty body"),
        ("invalid_json", "non-JSON body"),
        ("hang", "timeout after 0.3s"),
    ],
)
async def test_reads_give_up_after_retries(
    fast_client: PanelClient, state: PanelState, mode: str, reason: str
) -> None:
    state.set_fault("status", mode, seconds=0.6)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as caught:
        await fast_client.statuses(["1", "2"])
    assert type(caught.value) is UpstreamUnavailable
    assert reason in caught.value.reason
    assert "<html" not in str(caught.value).lower() and "cloudflare" not in str(caught.value).lower()
    assert len(str(caught.value)) < 120
    assert state.count("status") == 3  # 1 + read_retries
    if mode == "hang":
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    "mode",
    [
        "http500",
        "html",
        "empty",
        "invalid_json",
        "hang",
        "http500_after_commit",
        "hang_after_commit",
        "html_after_commit",
    ],
)
async def test_add_is_sent_exactly_once_and_outcome_unknown(
    fast_client: PanelClient, state: PanelState, mode: str
) -> None:
    state.set_fault("add", mode, seconds=0.6)
    with pytest.raises(AddOutcomeUnknown):
        await fast_client.add(ORDER)
    assert state.count("add") == 1
    committed = mode.endswith("_after_commit")
    assert len(state.orders) == (1 if committed else 0)


async def test_add_reply_lost_but_order_exists_upstream(fast_client: PanelClient, state: PanelState) -> None:
    state.inject_fault("add", "http500_after_commit")
    with pytest.raises(AddOutcomeUnknown):
        await fast_client.add(ORDER)
    (order,) = state.orders.values()
    assert order.link == LINK
    assert state.balance == 1000 - order.charge
    # the blind retry a careless caller would do is refused as a duplicate
    with pytest.raises(DuplicateActiveOrder):
        await fast_client.add(ORDER)
    assert state.count("add") == 2


async def test_add_429_is_sent_again_and_placed_once(sim: SimulatorHandle, state: PanelState) -> None:
    """A 429 is a refusal before the panel read the request: the order goes again, and exists once."""
    state.inject_fault("add", "http429")
    async with PanelClient(sim.url, API_KEY, timeout=5.0, max_requests_per_second=0) as client:
        order_id = await client.add(ORDER)
    assert state.count("add") == 2
    assert list(state.orders) == [order_id]


async def test_add_429_until_the_timeout_is_rate_limited_not_unknown(
    sim: SimulatorHandle, state: PanelState
) -> None:
    state.set_fault("add", "http429")
    # The 429 comes at once: a timeout of seconds, so a busy CI machine cannot turn it into "unknown".
    async with PanelClient(sim.url, API_KEY, timeout=2.5, max_requests_per_second=0) as client:
        with pytest.raises(RateLimited):
            await client.add(ORDER)
    assert 2 <= state.count("add") <= 3  # each 429 says "Retry-After: 1", which is honoured
    assert state.orders == {}


async def test_add_connection_refused_is_not_unknown(state: PanelState) -> None:
    async with PanelClient(
        "http://127.0.0.1:9/api/v3", API_KEY, timeout=1.0, max_requests_per_second=0
    ) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.add(ORDER)
    assert not isinstance(caught.value, AddOutcomeUnknown)
    assert caught.value.reason == "connection failed"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (AddOrder(service_id=DEFAULT, link="not a link", quantity=100), BadLink),
        (AddOrder(service_id=DEFAULT, link=LINK, quantity=9_000), NotEnoughFunds),
    ],
)
async def test_add_clean_refusal_is_typed(
    fast_client: PanelClient, state: PanelState, order: AddOrder, expected: type[Exception]
) -> None:
    state.balance = state.balance / 1000  # 1.00: too little for 9000 × 1.0 / 1000
    with pytest.raises(expected):
        await fast_client.add(order)
    assert state.count("add") == 1
    assert state.orders == {}


@pytest.mark.parametrize("action", ["refill", "cancel"])
async def test_refill_and_cancel_are_never_retried(
    fast_client: PanelClient, state: PanelState, action: str
) -> None:
    order_id = await fast_client.add(ORDER)
    state.complete(order_id)
    state.set_fault(action, "http500")
    with pytest.raises(UpstreamUnavailable) as caught:
        if action == "refill":
            await fast_client.refill(order_id)
        else:
            await fast_client.cancel_one(order_id)
    assert not isinstance(caught.value, AddOutcomeUnknown)
    assert state.count(action) == 1


async def test_multi_write_failure_is_recorded_per_id(fast_client: PanelClient, state: PanelState) -> None:
    ids = [str(n) for n in range(250)]
    state.inject_fault("cancel", "http500")
    result = await fast_client.cancel(ids)
    assert state.count("cancel") == 1  # later batches are not sent after a failed one
    assert all(isinstance(err, UpstreamUnavailable) for err in result.values())
    assert "not sent" in str(result["249"])


async def test_hang_respects_timeout(fast_client: PanelClient, state: PanelState) -> None:
    order_id = await fast_client.add(ORDER)
    state.inject_fault("status", "hang", seconds=1.0)
    started = time.monotonic()
    status = await fast_client.status(order_id)
    elapsed = time.monotonic() - started
    assert status.status is StatusGroup.PENDING
    assert 0.3 <= elapsed < 1.0
    assert state.count("status") == 2


async def test_fault_for_any_action(fast_client: PanelClient, state: PanelState) -> None:
    state.inject_fault("*", "http500", times=1)
    assert (await fast_client.balance()).amount == 1000
    assert state.count("balance") == 2
    assert state.faults == {}


async def test_rate_limiter_spaces_request_starts(sim: SimulatorHandle, state: PanelState) -> None:
    async with PanelClient(sim.url, API_KEY, max_requests_per_second=20) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.balance() for _ in range(5)))
        elapsed = time.monotonic() - started
    assert state.count("balance") == 5
    assert elapsed >= 4 * 0.05 - 0.01


async def test_client_session_reused_and_closed(sim: SimulatorHandle) -> None:
    client = PanelClient(sim.url, API_KEY, max_requests_per_second=0)
    await client.balance()
    session = client._session
    await client.balance()
    assert client._session is session
    await client.close()
    assert session is not None and session.closed
    # usable again after close: a new session is created lazily
    assert (await client.balance()).amount == 1000
    await client.close()


async def test_rate_limiter_keeps_its_rate_on_a_busy_event_loop() -> None:
    """Slots are spaced from the plan, not from late wake-ups: a loop that is busy 20 ms per turn
    must not stretch 30 requests at 1,000/s to 30 turns (0.6 s) as the first limiter did."""
    limiter = AdaptiveLimiter(max_per_second=1000, initial_concurrency=64)
    stop = asyncio.Event()

    async def busy_loop() -> None:
        while not stop.is_set():
            time.sleep(0.02)  # noqa: ASYNC251 - on purpose: CPU work of others between two turns of the loop
            await asyncio.sleep(0)

    async def one() -> None:
        async with await limiter.slot():
            pass

    hog = asyncio.create_task(busy_loop())
    await asyncio.sleep(0)
    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(30)))
    elapsed = time.monotonic() - started
    stop.set()
    await hog
    assert elapsed < 0.3
