"""Three bot instances in webhook mode behind one URL, on PostgreSQL and Redis; the leader crashes.

Shown end to end: every update is processed once (also when delivered twice), the order flow and a
broadcast work across instances, one instance runs the scheduled jobs and another takes over within
LEASE_SECONDS (+ one tick) after it crashed, the completion notice is sent once, and no order or
ledger entry is lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bot.services.admin.broadcast import KIND_TEXT, Content
from bot.webhook import register, webhook_secret
from sandbox.panel_simulator import SimulatorHandle
from sandbox.telegram_server import FakeTelegramServer, FakeUser
from storage.models import Notification, Order
from storage.repositories.coordination import LeaseRepository
from storage.repositories.ledger import LedgerRepository
from tests.scale.conftest import ADMIN_ID, Instance, RoundRobinProxy, Runs, fund, scale_settings, wait_until

PATH = "/telegram/webhook"


def count(user: FakeUser, text: str) -> int:
    return sum(text in message.text for message in user.messages)


async def lease_holder(node: Instance) -> str | None:
    async with node.bot_app.session_factory() as session:
        return await LeaseRepository(session).current_holder("scheduler")


async def test_three_instances_one_url_leader_crash(
    servers: tuple[FakeTelegramServer, SimulatorHandle], pg_url: str, redis_url: str
) -> None:
    tg, sim = servers
    proxy = RoundRobinProxy()
    await proxy.start()
    runs = Runs()
    base = scale_settings(tg, sim, pg_url, redis_url=redis_url, webhook_url=proxy.url + PATH)
    nodes = [Instance(base.model_copy(update={"instance_id": f"node-{n}"}), runs) for n in (1, 2, 3)]
    try:
        # Started together on an empty database: migrations run one at a time, one leader is elected.
        await asyncio.gather(*(node.start() for node in nodes))
        proxy.targets.extend(node.url for node in nodes)
        for node in nodes:
            await register(node.bot_app)  # setWebhook is idempotent: every instance calls it
        assert tg.webhook is not None and tg.webhook.url == proxy.url + PATH

        async def one_leader() -> bool:
            return sum(node.leader.is_leader for node in nodes) == 1

        await wait_until(one_leader, timeout=base.lease_seconds)
        leader = next(node for node in nodes if node.leader.is_leader)
        assert await lease_holder(nodes[0]) == leader.name

        ann, bob, cid = tg.add_user(1001, "Ann"), tg.add_user(1002, "Bob"), tg.add_user(1003, "Cid")
        boss = tg.add_user(ADMIN_ID, "Boss")
        await fund(nodes[0].bot_app, 1001, "10")
        for user in (ann, bob, cid, boss):
            await user.send_text("/start")
            await user.wait_for_message(contains=f"Hello, {user.first_name}")

        # The order flow, each step on the next instance; the form lives in Redis.
        await ann.send_text("/order 1")
        await ann.wait_for_message(contains="Send the link")
        await ann.send_text("https://instagram.com/ann")
        await ann.wait_for_message(contains="How many")
        await ann.send_text("1000")
        await ann.wait_for_message(contains="Check your order")
        await ann.press("Confirm")
        await ann.wait_for_message(contains="is placed")
        assert sim.state.count("add") == 1
        upstream = next(iter(sim.state.orders))

        async def confirm_answered() -> bool:  # the webhook answers once the update is processed
            return any(b"callback_query" in body for _, body, _ in proxy.forwarded)

        await wait_until(confirm_answered, timeout=5)
        confirm_target, confirm_body, _ = next(
            f for f in reversed(proxy.forwarded) if b"callback_query" in f[1]
        )

        # Telegram redelivers the Confirm press, twice, to other instances: nothing happens.
        secret = webhook_secret(base)
        ann.mark_seen()
        assert await proxy.post(PATH, confirm_body, secret=secret) == 200
        assert await proxy.post(PATH, confirm_body, secret=secret) == 200
        # A new update delivered twice at once (a load balancer retrying): one reply.
        sent = [json.loads(body) for _, body, _ in proxy.forwarded]
        update: dict[str, Any] = next(u for u in sent if u.get("message", {}).get("text") == "1000")
        update["update_id"] = 10**9
        update["message"]["text"] = "/balance"
        update["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 8}]
        twice = json.dumps(update).encode()
        statuses = await asyncio.gather(*(proxy.post(PATH, twice, secret=secret) for _ in range(2)))
        assert statuses == [200, 200]
        await ann.wait_for_message(contains="Your balance")
        # Forged deliveries without the right secret are refused by every instance.
        for wrong in (None, "nope", secret.upper()):
            assert await proxy.post(PATH, twice.replace(b"1000000000", b"1000000001"), secret=wrong) == 401
        await ann.assert_no_new_messages(within=0.5)
        assert sim.state.count("add") == 1
        assert count(ann, "Your balance") == 1

        # A broadcast (the admin console's service), sent by an instance that is not the leader
        # while the leader's jobs keep running: each user gets it once.
        sender = next(node for node in nodes if node is not leader)
        broadcasts = sender.bot_app.dispatcher.workflow_data["broadcasts"]
        await broadcasts.start(ADMIN_ID, Content(KIND_TEXT, text="Big sale today"), "all", chat_id=ADMIN_ID)
        for user in (ann, bob, cid):
            await user.wait_for_message(contains="Big sale today", timeout=10)

        # The leader crashes; the completion is reported by the survivor that takes the lease.
        crash = time.monotonic()
        await leader.kill()
        sim.state.complete(upstream)
        survivors = [node for node in nodes if node is not leader]

        async def taken_over() -> bool:
            return await lease_holder(survivors[0]) in {node.name for node in survivors}

        took = await wait_until(taken_over, timeout=base.lease_seconds + 3)
        assert time.monotonic() - crash <= base.lease_seconds * 4 / 3 + 1.0, took
        assert sum(node.leader.is_leader for node in survivors) == 1
        done = await ann.wait_for_message(contains="is completed", timeout=10)
        assert "https://instagram.com/ann" in done.text
        # The shop keeps serving through the same URL (the proxy skips the dead instance).
        await bob.send_text("/balance")
        await bob.wait_for_message(contains="Your balance")
        await ann.assert_no_new_messages(within=2.5)  # later poll cycles and tries send nothing more

        # Every notification and broadcast message once.
        assert count(ann, "is completed") == 1
        for user in (ann, bob, cid):
            assert count(user, "Big sale today") == 1, user
        # Every delivered update ran its handlers exactly once, spread over the instances.
        delivered = {json.loads(body)["update_id"] for _, body, status in proxy.forwarded if status == 200}
        assert set(runs.by_update) == delivered
        assert all(n == 1 for n in runs.by_update.values()), runs.by_update
        assert len({where[0] for where in runs.where.values()}) == 3
        # No order or ledger entry lost: one order, one charge, balance == sum of the ledger.
        async with survivors[0].bot_app.session_factory() as session:
            ledger = LedgerRepository(session)
            assert await ledger.balance(1001) == await ledger.sum_entries(1001) == Decimal("8.92")
            assert await session.scalar(select(func.count()).select_from(Order)) == 1
            unsent = select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None))
            assert await session.scalar(unsent) == 0
        assert sim.state.count("add") == 1

        # A graceful stop (SIGTERM) releases the lease: the last instance takes over at its next
        # tick instead of waiting for the lease to run out, and serves alone.
        current = next(node for node in survivors if node.leader.is_leader)
        last = next(node for node in survivors if node is not current)
        await current.stop()
        stopped = time.monotonic()

        async def last_leads() -> bool:
            return last.leader.is_leader

        await wait_until(last_leads, timeout=base.lease_seconds)
        assert time.monotonic() - stopped < base.lease_seconds / 3 + 0.5
        await cid.send_text("/balance")
        await cid.wait_for_message(contains="Your balance")
        assert tg.stats.webhook_failures == 0
        tg.assert_no_violations()
        tg.assert_all_callbacks_answered()
        del confirm_target
    finally:
        for node in nodes:
            await node.close()
        await proxy.stop()
