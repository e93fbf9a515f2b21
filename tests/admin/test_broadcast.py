"""Broadcasts reach every reachable user exactly once, at a steady rate, across 429s and restarts."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select, update

from bot.services.admin.chart import ChartLabels, render_chart
from storage.db import database
from storage.models import BroadcastRecipient, RecipientState, User
from tests.admin.conftest import Shop, add_customers, admin_user, audit_rows, send_document, send_photo
from tests.e2e.flows import place_order

FIRST = 10_000


async def start_broadcast(shop: Shop, text: str, *, inject_429: int = 0) -> None:
    """The admin broadcasts `text` to everyone; `inject_429` flood errors hit the first sends."""
    admin = admin_user(shop)
    await admin.send_text(f"/broadcast {text}")
    controls = await admin.wait_for_message(contains="This is how your users will see it")
    if inject_429:
        shop.tg.inject_429(count=inject_429, retry_after=1, methods=["sendMessage"])
    await admin.press("Send to", controls)


async def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def blocked_flags(shop: Shop, ids: list[int]) -> dict[int, bool]:
    assert shop.app is not None
    async with shop.app.session_factory() as session:
        rows = await session.execute(select(User.id, User.blocked_bot).where(User.id.in_(ids)))
        return {int(uid): bool(flag) for uid, flag in rows.all()}


async def test_two_thousand_users_each_get_it_once_despite_blocks_and_429s(shop: Shop) -> None:
    await shop.restart(broadcast_rate_per_second=5000)  # as fast as the fake server goes
    ids = list(range(FIRST, FIRST + 2000))
    blocked = ids[5::97]  # ~20 users who blocked the bot since we last heard from them
    never_started = ids[11::211]  # a few whose chat cannot be found
    users = await add_customers(shop, ids, blocked=blocked, not_started=never_started)
    admin = admin_user(shop)

    with shop.tg.expect_errors("chat not found"):
        await start_broadcast(shop, "Big sale today!", inject_429=6)
        report = await admin.wait_for_message(contains="is done", timeout=40)

    sends = shop.tg.stats.sends_per_chat
    reachable = [uid for uid in ids if uid not in blocked and uid not in never_started]
    assert [uid for uid in reachable if sends[uid] != 1] == []
    assert all(sends[uid] == 0 for uid in blocked + never_started)
    assert all(users[uid].messages[-1].text == "Big sale today!" for uid in reachable[:50])
    total = len(ids) + 1  # the admin is a user too and gets it like everyone else
    failed = len(blocked) + len(never_started)
    assert f"Delivered: {total - failed} of {total}" in report.text
    assert f"Failed: {failed}, of them blocked the bot: {len(blocked)}" in report.text
    assert shop.tg.stats.injected_errors == 6  # the 429s happened and were honoured
    flags = await blocked_flags(shop, ids)
    assert {uid for uid, flag in flags.items() if flag} == set(blocked)
    progress = next(m for m in admin.messages if "Broadcast #1" in m.text)
    assert "is finished" in progress.text and not progress.keyboard  # edited into its final state
    actions = [(row.action, row.args.get("recipients")) for row in await audit_rows(shop)]
    assert ("broadcast.start", total) in actions

    # Next time, users known to have blocked the bot are not even in the audience.
    await admin.send_text("/broadcast Second one")
    controls = await admin.wait_for_message(contains="This is how your users will see it")
    assert f"— {total - len(blocked)} users" in controls.text


async def test_real_rate_stays_under_telegrams_limit_with_429s(shop: Shop) -> None:
    shop.tg.rate_limit_per_second = 30  # Telegram's limit, enforced by the fake
    ids = list(range(FIRST, FIRST + 120))
    blocked = ids[::20]
    await add_customers(shop, ids, blocked=blocked)
    admin = admin_user(shop)
    await admin.send_text("/start")
    await admin.wait_for_message(contains="Hello")
    shop.tg.stats.send_timestamps.clear()

    await start_broadcast(shop, "Steady does it", inject_429=3)
    progress = await admin.wait_for_message(contains="is being sent", edited=True, timeout=10)
    assert "Speed:" in progress.text and "left:" in progress.text
    await admin.wait_for_message(contains="is done", timeout=30)

    stats = shop.tg.stats
    assert stats.max_sends_in_window(1.0) <= 29  # the default BROADCAST_RATE_PER_SECOND
    assert stats.rate_limited == 0  # never went over Telegram's 30/s
    assert [uid for uid in ids if uid not in blocked and stats.sends_per_chat[uid] != 1] == []


async def test_restart_mid_broadcast_resumes_without_duplicates(shop: Shop) -> None:
    await shop.restart(broadcast_rate_per_second=150)
    ids = list(range(FIRST, FIRST + 600))
    await add_customers(shop, ids, blocked=ids[::100])
    admin = admin_user(shop)
    sends = shop.tg.stats.sends_per_chat

    await start_broadcast(shop, "Survives restarts")
    await wait_until(lambda: sum(sends[uid] for uid in ids) >= 150, 10, "a quarter of the sends")
    await shop.stop()
    sent_before = sum(sends[uid] for uid in ids)
    assert 150 <= sent_before < 550, sent_before

    # Simulate a crash during a send as well: a claimed row whose outcome is unknown must not be resent.
    async with (
        database(shop.settings.database_url, migrate=False) as (_, factory),
        factory.begin() as session,
    ):
        pending = (
            (
                await session.execute(
                    select(BroadcastRecipient.user_id)
                    .where(BroadcastRecipient.state == RecipientState.PENDING)
                    .order_by(BroadcastRecipient.user_id.desc())
                    .limit(2)
                )
            )
            .scalars()
            .all()
        )
        await session.execute(
            update(BroadcastRecipient)
            .where(BroadcastRecipient.user_id.in_(pending))
            .values(state=RecipientState.SENDING)
        )
    await shop.start()
    report = await admin.wait_for_message(contains="is done", timeout=20)

    assert [uid for uid in ids if sends[uid] > 1] == []
    reachable = [uid for uid in ids if uid not in ids[::100]]
    assert [uid for uid in reachable if sends[uid] != 1 and uid not in pending] == []
    assert all(sends[uid] == 0 for uid in pending)  # interrupted mid-send: counted failed, never repeated
    total = len(ids) + 1
    assert f"Delivered: {total - 6 - 2} of {total}" in report.text
    assert "Failed: 8, of them blocked the bot: 6" in report.text


async def test_stop_button_cancels_the_rest(shop: Shop) -> None:
    await shop.restart(broadcast_rate_per_second=20)
    ids = list(range(FIRST, FIRST + 200))
    await add_customers(shop, ids)
    admin = admin_user(shop)
    sends = shop.tg.stats.sends_per_chat
    await start_broadcast(shop, "Oops, wrong text")
    progress = await admin.wait_for_message(contains="is being sent", timeout=5)
    await wait_until(lambda: sum(sends[uid] for uid in ids) >= 10, 5, "the first sends")
    await admin.press("Stop", progress)
    answer = await admin.wait_for_answer()
    assert "is stopping" in (answer.answer_text or "")
    report = await admin.wait_for_message(contains="Not sent:", timeout=5)
    delivered = sum(sends[uid] for uid in ids) + 1  # + the admin, first in line
    assert delivered < 100
    total = len(ids) + 1
    assert f"Delivered: {delivered} of {total}" in report.text
    assert f"Not sent: {total - delivered}" in report.text
    await asyncio.sleep(0.5)
    assert sum(sends[uid] for uid in ids) + 1 == delivered  # nothing more after the stop
    assert "broadcast.cancel" in [row.action for row in await audit_rows(shop)]


async def test_photo_with_caption_and_any_message_copied_to_buyers_only(shop: Shop) -> None:
    await shop.restart(broadcast_rate_per_second=200)
    ids = list(range(FIRST, FIRST + 5))
    users = await add_customers(shop, ids)
    buyer = shop.user(1001, "Ann")
    await shop.fund(1001, "5")
    await place_order(buyer, quantity="100")

    admin = admin_user(shop)
    await admin.send_text("/broadcast")
    await admin.wait_for_message(contains="Send the message to broadcast")
    png = render_chart([], [], [], ChartLabels("Chart", "Orders", "Revenue", "Day", "No data"))
    send_photo(shop.tg, admin, png, caption="New services!")
    preview = await admin.wait_for_message(lambda m: m.has_photo)
    assert preview.text == "New services!"
    controls = await admin.wait_for_message(contains="This is how your users will see it")
    await admin.press("Buyers", controls)
    controls = await admin.wait_for_message(contains="customers who ordered", edited=True)
    assert "— 1 user." in controls.text
    await admin.press("Send to 1", controls)
    await admin.wait_for_message(contains="is done", timeout=10)
    received = buyer.messages[-1]
    assert received.has_photo and received.photo == png and received.text == "New services!"
    assert all(not any(m.has_photo for m in users[uid].messages) for uid in ids)

    await admin.send_text("/broadcast")
    await admin.wait_for_message(contains="Send the message to broadcast")
    send_document(shop.tg, admin, b"price list", "prices.txt")
    controls = await admin.wait_for_message(contains="This is how your users will see it")
    await admin.send_text("30")  # active in the last 30 days: everyone here
    controls = await admin.wait_for_message(contains="active in the last 30 days")
    await admin.press("Send to", controls)
    await admin.wait_for_message(contains="is done", timeout=10)
    assert shop.tg.stats.calls["copyMessage"] >= len(ids) + 1
    assert all(users[uid].messages[-1].kind == "document" for uid in ids)
