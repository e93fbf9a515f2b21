"""Telegram's own errors never reach the user as a failure: flood limits are waited out, edits that
change nothing are ignored, and a user who blocked the bot is remembered."""

from __future__ import annotations

import time

from tests.e2e.conftest import Shop


async def test_flood_limit_is_waited_out_and_the_reply_arrives(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    shop.tg.inject_429(count=2, retry_after=1, methods=["sendMessage"])
    started = time.monotonic()
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann", timeout=10)
    assert time.monotonic() - started >= 2  # waited retry_after twice instead of giving up
    assert shop.tg.stats.retry_after_sent == 2


async def test_pressing_the_same_page_twice_is_harmless(shop: Shop) -> None:
    ann = shop.user(1001, "Ann")
    await ann.send_text("/services")
    await ann.wait_for_message(contains="Choose a platform")
    await ann.press("Instagram (")
    page = await ann.wait_for_message(contains="Choose a category")
    await ann.press_data("pf:instagram:0", page)  # re-renders the same page: Telegram says "not modified"
    await ann.wait_for_answer()
    await ann.press_data("pf:instagram:0", page)
    await ann.wait_for_answer()
    assert shop.tg.stats.not_modified >= 1
    await ann.assert_no_new_messages(within=0.3)


async def test_blocked_user_is_marked_when_a_reply_fails(shop: Shop) -> None:
    from storage.repositories.users import UserRepository

    ann = shop.user(1001, "Ann")
    await ann.send_text("/start")
    await ann.wait_for_message()
    ann.block_bot()
    await ann.send_text("/help")  # the reply gets 403; the bot must cope and remember
    assert shop.app is not None
    for _ in range(50):
        async with shop.app.session_factory() as session:
            user = await UserRepository(session).get(1001)
        if user is not None and user.blocked_bot:
            break
        import asyncio

        await asyncio.sleep(0.1)
    assert user is not None and user.blocked_bot


async def test_an_unexpected_failure_gets_a_polite_localised_message(shop: Shop) -> None:
    ivan = shop.user(1002, "Иван", language_code="ru")
    shop.tg.inject_error("sendMessage", 400, "Bad Request: something unexpected", count=1)
    await ivan.send_text("/help")
    sorry = await ivan.wait_for_message(timeout=10)
    assert "error.generic" not in sorry.text
    assert "Что-то пошло не так" in sorry.text or "пошло не так" in sorry.text


async def test_reply_models_survive_garbage_collection(shop: Shop) -> None:
    """Each reply is validated with `Response[...]`; rebuilding it after every GC cost ~4 ms a call."""
    import gc
    import weakref

    from aiogram.methods import Response, SendMessage

    ann = shop.user(1001, "Ann")
    await ann.send_text("/start")
    await ann.wait_for_message(contains="Hello, Ann")
    reply_model = weakref.ref(Response[SendMessage.__returning__])  # type: ignore[name-defined]
    gc.collect()
    assert reply_model() is not None  # still cached: the next sendMessage will not rebuild it
    await ann.send_text("/help")
    await ann.wait_for_message()
