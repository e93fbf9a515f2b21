"""Webhook mode: delivery with the secret header, retries, 409 for getUpdates, aiogram's handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sandbox.telegram_server import FakeTelegramServer
from tests.telegram_fake.conftest import demo_router

USER = 1001
SECRET = "s3cr3t-Token_1"


class Receiver:
    """A webhook endpoint that records what it gets and answers with scripted statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses: list[int] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({}, status=status)


async def serve(handler: Callable[[web.Request], Any]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    runner, rec.url = await serve(rec.handle)
    try:
        yield rec
    finally:
        await runner.cleanup()


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_delivery_with_secret_and_conflict(
    tg: FakeTelegramServer, bot: Bot, receiver: Receiver
) -> None:
    user = tg.add_user(USER)
    assert await bot.set_webhook(receiver.url, secret_token=SECRET)
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0
    await user.send_text("hello")
    await wait_until(lambda: len(receiver.received) == 1)
    headers, update = receiver.received[0]
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert update["message"]["text"] == "hello" and update["update_id"] > 0
    conflict = "Conflict: can't use getUpdates method while webhook is active"
    with tg.expect_errors(conflict), pytest.raises(TelegramConflictError):
        await bot.get_updates()
    assert await bot.delete_webhook()
    await user.send_text("polled")
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["polled"]
    tg.assert_no_violations()


async def test_retries_then_gives_up(tg: FakeTelegramServer, bot: Bot, receiver: Receiver) -> None:
    user = tg.add_user(USER)
    receiver.statuses = [500, 502]  # two failures, then success on the third attempt
    await bot.set_webhook(receiver.url)
    await user.send_text("retry me")
    await wait_until(lambda: tg.stats.webhook_deliveries == 1)
    assert [u["message"]["text"] for _, u in receiver.received] == ["retry me"] * 3
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.received[0][0]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    receiver.statuses = [500, 500, 500]
    await user.send_text("lost")
    await wait_until(lambda: tg.stats.webhook_failures == 1)
    assert len(tg.violations) == 1 and "not delivered" in tg.violations[0].description
    assert tg.updates == []  # the undeliverable update was dropped, the queue moves on


async def test_aiogram_webhook_handler_end_to_end(tg: FakeTelegramServer, bot: Bot) -> None:
    dp = Dispatcher()
    dp.include_router(demo_router())

    @dp.message(lambda m: m.text == "reply-in-response")
    async def direct(message: Message) -> SendMessage:
        # Returned methods travel back in the webhook response body (multipart form).
        # Handlers on the dispatcher itself run before those of included routers (the echo).
        return message.answer("answered in the webhook response")

    handler = SimpleRequestHandler(dp, bot, secret_token=SECRET, handle_in_background=False)
    runner, url = await serve(handler.handle)
    try:
        user = tg.add_user(USER)
        await bot.set_webhook(url, secret_token=SECRET)
        await user.send_text("/start")
        menu = await user.wait_for_message(contains="Welcome")
        await user.press("Next", menu)
        assert (await user.wait_for_message(contains="Page 2")).edited == 1
        await user.send_text("reply-in-response")
        await user.wait_for_message(contains="answered in the webhook response")
        tg.assert_no_violations()
    finally:
        await runner.cleanup()


class HoldingReceiver(Receiver):
    """Keeps every request open until `release()`: shows how many Telegram has in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.open = 0
        self.most_open = 0
        self._release = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def handle(self, request: web.Request) -> web.Response:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            self.received.append((dict(request.headers), await request.json()))
            await self._release.wait()
            return web.json_response({})
        finally:
            self.open -= 1


@pytest.fixture
async def holding() -> AsyncIterator[HoldingReceiver]:
    rec = HoldingReceiver()
    runner, rec.url = await serve(rec.handle)
    try:
        yield rec
    finally:
        rec.release()
        await runner.cleanup()


async def test_updates_of_different_chats_arrive_in_parallel_up_to_max_connections(
    tg: FakeTelegramServer, bot: Bot, holding: HoldingReceiver
) -> None:
    users = [tg.add_user(USER + i, f"U{i}") for i in range(5)]
    assert await bot.set_webhook(holding.url, max_connections=3)
    for user in users:
        await user.send_text(f"from {user.id}")
    await wait_until(lambda: len(holding.received) == 3)
    await asyncio.sleep(0.1)  # a fourth would have arrived by now
    assert holding.open == 3 and len(holding.received) == 3
    holding.release()
    await wait_until(lambda: tg.stats.webhook_deliveries == 5)
    assert holding.most_open == 3
    assert sorted(u["message"]["text"] for _, u in holding.received) == [f"from {u.id}" for u in users]
    assert tg.updates == []
    tg.assert_no_violations()


async def test_one_chat_s_updates_arrive_one_at_a_time_in_order(
    tg: FakeTelegramServer, bot: Bot, holding: HoldingReceiver
) -> None:
    user = tg.add_user(USER)
    assert await bot.set_webhook(holding.url)  # 40 connections, but one chat
    for text in ("first", "second", "third"):
        await user.send_text(text)
    await wait_until(lambda: len(holding.received) == 1)
    await asyncio.sleep(0.1)  # the second would have arrived by now
    assert len(holding.received) == 1 and holding.open == 1
    holding.release()
    await wait_until(lambda: tg.stats.webhook_deliveries == 3)
    assert [u["message"]["text"] for _, u in holding.received] == ["first", "second", "third"]
    assert holding.most_open == 1
    tg.assert_no_violations()
