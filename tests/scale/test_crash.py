"""Three real `python -m bot` processes in webhook mode on PostgreSQL + Redis behind a round-robin
proxy; 50 users order at once and two instances, the scheduler's lease holder among them, are
SIGKILLed mid-run (issue #16). No task cancellation inside one process: the killed processes
release nothing, exactly as in a crash.

Shown: no chat waits more than 5 s after the kill (the dead instances' chat locks run out within
CHAT_LOCK_SECONDS), every update Telegram delivered is processed exactly once (an update cut short
by the kill got no 200 and is delivered again, and then processed), no order stays "placing", one
charge and at most one refund per order, balances equal ledgers, one notice per completed order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from sandbox.panel_simulator import PanelState, SimulatorHandle, run_panel_simulator
from sandbox.telegram_server import FakeTelegramServer, FakeUser, run_fake_telegram
from storage.db import database
from storage.models import LedgerEntry, LedgerKind, Order, OrderState
from storage.repositories.coordination import LeaseRepository
from storage.repositories.ledger import LedgerRepository
from storage.repositories.users import UserRepository
from tests.process.test_run import clean_env
from tests.scale.conftest import SIM_KEY, RoundRobinProxy
from tests.scale.test_process import free_port

# Three bot processes, the fakes and 50 users need about two minutes on two idle cores; on a machine
# shared with other test runs their event loops stall for seconds. Run with SMM_HEAVY_TESTS=1.
pytestmark = [
    pytest.mark.heavy,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not os.environ.get("SMM_HEAVY_TESTS"), reason="heavy: set SMM_HEAVY_TESTS=1"),
]

PATH = "/telegram/webhook"
USERS = 50
FIRST_USER = 3000
LOCK_SECONDS = 2
LEASE_SECONDS = 3
STEP_TIMEOUT = 30.0
MAX_WAIT_AFTER_KILL = 5.0  # issue #16: no chat waits longer (a dead holder's lock lives LOCK_SECONDS)
PLACING_GRACE = 20  # an order a dead placer left "placing" is surfaced (UNKNOWN, admins told) after this


@dataclass
class Node:
    name: str
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Timeline:
    """When each user action started and how long the bot took to react to it."""

    killed_at: float | None = None
    steps: list[tuple[int, str, float, float]] = field(default_factory=list)  # user, step, start, wait
    confirming: int = 0
    kill_now: asyncio.Event = field(default_factory=asyncio.Event)


async def start_node(node: Node, env: dict[str, str]) -> None:
    out = node.log.open("wb")
    node.process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env={**env, "INSTANCE_ID": node.name, "WEBHOOK_PORT": str(node.port)},
        stdout=out,
        stderr=out,
    )
    out.close()


async def wait_healthy(node: Node, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert node.process is not None and node.process.returncode is None, node.log.read_text()[-3000:]
            try:
                async with session.get(node.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{node.name} did not start: {node.log.read_text()[-3000:]}")


@pytest.fixture
async def world(
    pg_url: str, redis_url: str
) -> AsyncIterator[tuple[FakeTelegramServer, SimulatorHandle, RoundRobinProxy]]:
    # Each panel answer takes 0.3 s: Confirms are in flight on every instance when the kill comes.
    state = PanelState(api_key=SIM_KEY, partial_chance=0.0, refill_reject_chance=0.0, latency=0.3)
    # Like Telegram, the fake keeps delivering an update until it is answered with a 2xx.
    async with (
        run_fake_telegram(webhook_max_attempts=60, webhook_retry_delay=0.1) as tg,
        run_panel_simulator(state) as sim,
    ):
        proxy = RoundRobinProxy()
        await proxy.start()
        try:
            yield tg, sim, proxy
        finally:
            await proxy.stop()


async def chat_locks(url: str) -> list[bytes]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        return [key async for key in client.scan_iter(match="fsm:*:lock")]
    finally:
        await client.aclose()


def cut_users(proxy: RoundRobinProxy, victims: list[Node]) -> set[int]:
    """Users with an update the proxy could not complete on a killed instance."""
    dead = {node.url for node in victims}
    return {update_chat(body) for target, body in proxy.failed if target in dead}


def update_chat(body: bytes) -> int:
    update = json.loads(body)
    event = update.get("message") or update.get("callback_query") or {}
    return int(event["from"]["id"])


async def act(user: FakeUser, timeline: Timeline, step: str, action: str, expect: tuple[str, ...]) -> str:
    started = time.monotonic()
    if action.startswith("press:"):
        await user.press(action.removeprefix("press:"))
    else:
        await user.send_text(action)
    message = await user.wait_for_message(
        lambda m: any(text in m.text for text in expect), timeout=STEP_TIMEOUT
    )
    timeline.steps.append((user.id, step, started, time.monotonic() - started))
    return message.text


async def customer(user: FakeUser, n: int, timeline: Timeline) -> None:
    await asyncio.sleep(n * 0.15)  # they do not all arrive in the same millisecond
    await act(user, timeline, "start", "/start", ("Hello",))
    await act(user, timeline, "order", "/order 1", ("Send the link",))
    await act(user, timeline, "link", f"https://instagram.com/crash{user.id}", ("How many",))
    await act(user, timeline, "quantity", "1000", ("Check your order",))
    timeline.confirming += 1
    if timeline.confirming >= USERS // 3:
        timeline.kill_now.set()
    await act(user, timeline, "confirm", "press:Confirm", ("is placed", "already placed", "is being placed"))


async def test_sigkill_of_the_leader_and_another_instance_loses_nothing(
    world: tuple[FakeTelegramServer, SimulatorHandle, RoundRobinProxy],
    pg_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    tg, sim, proxy = world
    async with database(pg_url) as (_, factory), factory.begin() as session:  # schema + wallets
        for n in range(USERS):
            user_id = FIRST_USER + n
            await UserRepository(session).touch(
                user_id, username=None, first_name=f"U{n}", language_code="en"
            )
            await LedgerRepository(session).apply(
                user_id=user_id, amount=Decimal("10"), kind=LedgerKind.DEPOSIT, key=f"crash:{user_id}"
            )
    env = clean_env(
        BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.base_url,
        PANEL_API_URL=sim.url,
        PANEL_API_KEY=SIM_KEY,
        DATABASE_URL=pg_url,
        REDIS_URL=redis_url,
        WEBHOOK_URL=proxy.url + PATH,
        WEBHOOK_PATH=PATH,
        WEBHOOK_LISTEN_HOST="127.0.0.1",
        LEASE_SECONDS=str(LEASE_SECONDS),
        CHAT_LOCK_SECONDS=str(LOCK_SECONDS),
        POLL_INTERVAL_SECONDS="1",
        MARKUP_PERCENT="50",
        PANEL_REQUESTS_PER_SECOND="1000",
        PANEL_TIMEOUT_SECONDS="5",
        PLACING_GRACE_SECONDS=str(PLACING_GRACE),
        LOG_LEVEL="INFO",
    )
    nodes = [Node(f"node-{n}", free_port(), tmp_path / f"node-{n}.log") for n in (1, 2, 3)]
    timeline = Timeline()
    try:
        for node in nodes:
            await start_node(node, env)
        for node in nodes:
            await wait_healthy(node)
        proxy.targets.extend(node.url for node in nodes)
        assert tg.webhook is not None and tg.webhook.url == proxy.url + PATH

        users = [tg.add_user(FIRST_USER + n, f"U{n}") for n in range(USERS)]
        flows = asyncio.gather(*(customer(user, n, timeline) for n, user in enumerate(users)))

        # Mid-run, with updates in flight on every instance: SIGKILL the lease holder and one other.
        await asyncio.wait_for(timeline.kill_now.wait(), 120)
        async with factory() as session:
            holder = await LeaseRepository(session).current_holder("scheduler")
        leader = next(node for node in nodes if node.name == holder)
        victims = [leader, next(node for node in nodes if node is not leader)]
        # The worst moment: both victims hold updates they have not answered yet.
        for _ in range(200):
            if all(proxy.in_flight[node.url] > 0 for node in victims):
                break
            await asyncio.sleep(0.01)
        for node in victims:
            assert node.process is not None
            node.process.send_signal(signal.SIGKILL)
        timeline.killed_at = time.monotonic()
        locks_left = await chat_locks(redis_url)  # those of the dead among them run out by themselves
        for node in victims:
            assert node.process is not None
            await node.process.wait()
        survivor = next(node for node in nodes if node not in victims)
        # Every chat lock held at the kill is gone (released or run out) within its life: no chat
        # stays frozen (with aiogram's 60 s lock they stayed for up to a minute).
        await asyncio.sleep(LOCK_SECONDS + 0.5)
        stuck = set(locks_left) & set(await chat_locks(redis_url))
        assert not stuck, stuck

        await asyncio.wait_for(flows, 120)

        # Every step still waiting at the kill or begun after it (the cut-short updates' own steps
        # included: they wait for the dead holder's lock) is answered within 5 s of the kill or of
        # its start: a lock's life plus its processing by the one instance left (on a 2-core
        # machine busy with other work that processing alone can take seconds: run it on a quiet one).
        after = [
            (user, step, start + wait - max(start, timeline.killed_at))
            for user, step, start, wait in timeline.steps
            if start + wait >= timeline.killed_at
        ]
        assert any(start >= timeline.killed_at for _, _, start, _ in timeline.steps), "the kill came too late"
        slowest = sorted(after, key=lambda item: -item[2])
        before = sorted(wait for _, _, start, wait in timeline.steps if start < timeline.killed_at)
        assert slowest[0][2] < MAX_WAIT_AFTER_KILL, (
            slowest[:8],
            "median before",
            before[len(before) // 2],
        )

        # The survivor took the lease and runs the jobs: every order completes and is reported once.
        # (the lease runs out LEASE_SECONDS after the leader's last renewal; the survivor looks every third)
        takeover_by = timeline.killed_at + LEASE_SECONDS * 4 / 3 + 2.0
        while True:
            async with factory() as session:
                holder = await LeaseRepository(session).current_holder("scheduler")
            if holder == survivor.name or time.monotonic() > takeover_by:
                break
            await asyncio.sleep(0.1)
        assert holder == survivor.name, holder
        for upstream_id in list(sim.state.orders):
            sim.state.complete(upstream_id)
        async with factory() as session:
            placing = set(  # (or already surfaced by the sweep, if the run after the kill was long)
                await session.scalars(
                    select(Order.user_id).where(Order.state.in_([OrderState.PLACING, OrderState.UNKNOWN]))
                )
            )
        # An order whose Confirm was cut short by the kill between its charge and its outcome is
        # left "placing" for the sweep of interrupted orders (bot/services/ordering.py); every
        # other order completes and is reported.
        cut = cut_users(proxy, victims)
        assert placing <= cut, placing
        # ... and the survivor's sweep surfaces each of them within the grace (plus a sweep interval):
        # nothing stays "placing" with nobody to pick it up.
        deadline = time.monotonic() + PLACING_GRACE + 10
        while True:
            async with factory() as session:
                left = set(
                    await session.scalars(select(Order.user_id).where(Order.state == OrderState.PLACING))
                )
                surfaced = set(
                    await session.scalars(select(Order.user_id).where(Order.state == OrderState.UNKNOWN))
                )
            if not left or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert not left, left
        assert surfaced == placing, (surfaced, placing)
        print(  # the run's story, shown with `pytest -s`
            f"killed {[node.name for node in victims]}; updates cut short: {len(proxy.failed)} "
            f"(users {sorted(cut)}); orders left placing then surfaced: {sorted(placing)}; "
            f"slowest step after the kill: {slowest[0][2]:.2f} s"
        )
        for user in users:
            if user.id not in placing:
                await user.wait_for_message(contains="is completed", timeout=30)
        await asyncio.sleep(2.5)  # later poll cycles send nothing more

        # An update cut short by the kill was answered by nobody, so Telegram delivered it again
        # and it ran again from the same state: its answer may have reached the user twice (the
        # dead process sent it before dying). Every other answer came exactly once.
        for user in users:
            texts = [message.text for message in user.messages]
            for marker in ("Hello", "Send the link", "How many"):  # (the summary is edited by Confirm)
                seen = sum(marker in text for text in texts)
                assert seen == 1 or (user.id in cut and seen == 2), (user.id, marker, texts)
            completed = sum("is completed" in text for text in texts)
            assert completed == (0 if user.id in placing else 1), (user.id, texts)
        async with factory() as session:
            orders = (await session.scalars(select(Order))).all()
            assert len(orders) == USERS
            finished = [order.state for order in orders if order.user_id not in placing]
            assert {order.state for order in orders if order.user_id in placing} <= {OrderState.UNKNOWN}
            assert set(finished) == {OrderState.COMPLETED}, finished
            ledger = LedgerRepository(session)
            for n in range(USERS):
                user_id = FIRST_USER + n
                assert await ledger.balance(user_id) == await ledger.sum_entries(user_id)
            per_order = (
                await session.execute(
                    select(LedgerEntry.order_id, LedgerEntry.kind, func.count())
                    .where(LedgerEntry.order_id.is_not(None))
                    .group_by(LedgerEntry.order_id, LedgerEntry.kind)
                )
            ).all()
            charges = {
                order_id: count for order_id, kind, count in per_order if kind == LedgerKind.ORDER_CHARGE
            }
            assert sorted(charges) == sorted(order.id for order in orders)
            assert set(charges.values()) == {1}
            assert all(count <= 1 for _, kind, count in per_order if kind != LedgerKind.ORDER_CHARGE)
        # Each order placed upstream at most once; only one a placer died before sending may be missing.
        links = [order.link for order in sim.state.orders.values()]
        assert len(links) == len(set(links)) == sim.state.count("add"), links
        assert USERS - len(placing) <= len(links) <= USERS
        assert tg.stats.webhook_failures == 0  # every update was answered 200 in the end
        log = survivor.log.read_text()
        assert "Traceback" not in log, log[-3000:]
        assert tg.token.split(":")[1] not in log
    finally:
        for node in nodes:
            if node.process is not None and node.process.returncode is None:
                node.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(node.process.wait(), 40)
                except TimeoutError:
                    node.process.kill()
                    await node.process.wait()
