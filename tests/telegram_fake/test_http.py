"""Raw HTTP: every body encoding Telegram accepts, error envelopes, and the control endpoints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sandbox.telegram_server import FakeTelegramServer

USER = 1001


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def api(tg: FakeTelegramServer, method: str) -> str:
    return f"{tg.base_url}/bot{tg.token}/{method}"


async def test_json_form_urlencoded_and_query_bodies(
    tg: FakeTelegramServer, http: aiohttp.ClientSession
) -> None:
    user = tg.add_user(USER)
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with http.post(
        api(tg, "sendMessage"), json={"chat_id": USER, "text": "json", "reply_markup": markup}
    ) as r:
        body = await r.json()
        assert r.status == 200 and body["ok"] and body["result"]["reply_markup"] == markup
    async with http.post(
        api(tg, "sendMessage"),
        data={"chat_id": str(USER), "text": "form", "reply_markup": json.dumps(markup)},
    ) as r:
        assert r.status == 200
    async with http.get(api(tg, "sendMessage"), params={"chat_id": str(USER), "text": "query"}) as r:
        assert r.status == 200
    form = aiohttp.FormData()
    form.add_field("chat_id", str(USER))
    form.add_field("text", "multipart")
    async with http.post(api(tg, "sendMessage"), data=form) as r:
        assert r.status == 200
    assert [m.text for m in user.messages] == ["json", "form", "query", "multipart"]
    assert user.messages[0].buttons == user.messages[1].buttons == [["A"]]
    tg.assert_no_violations()


async def test_error_envelopes(tg: FakeTelegramServer, http: aiohttp.ClientSession) -> None:
    with tg.expect_errors() as caught:
        async with http.post(api(tg, "noSuchMethod")) as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{tg.base_url}/botWRONG:TOKEN/getMe") as r:
            assert r.status == 401 and (await r.json())["description"] == "Unauthorized"
        async with http.post(api(tg, "sendMessage"), json={"chat_id": USER}) as r:
            assert r.status == 400
            assert await r.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
    assert [v.error_code for v in caught] == [404, 401, 400]
    tg.inject_429(retry_after=3)
    async with http.post(api(tg, "getMe")) as r:
        assert r.status == 429
        assert await r.json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        }
    async with http.get(f"{tg.base_url}/file/bot{tg.token}/photos/nothing.png") as r:
        assert r.status == 404
    tg.assert_no_violations()


async def test_control_endpoints(tg: FakeTelegramServer, http: aiohttp.ClientSession) -> None:
    base = f"{tg.base_url}/_fake/users/{USER}"
    async with http.post(f"{base}/send", json={"text": "/start", "first_name": "Demo"}) as r:
        sent = await r.json()
        assert sent["ok"] and sent["message"]["text"] == "/start"
    assert tg.user(USER).first_name == "Demo"
    assert tg.updates[0]["message"]["text"] == "/start"
    version = sent["version"]

    async def bot_replies() -> None:
        await asyncio.sleep(0.1)
        status, body = await tg.call(
            "sendMessage",
            {
                "chat_id": USER,
                "text": "<b>Hi</b>",
                "parse_mode": "HTML",
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {"text": "Go", "callback_data": "go"},
                            {"text": "Site", "url": "https://example.com"},
                        ]
                    ]
                },
            },
        )
        assert status == 200, body

    task = asyncio.create_task(bot_replies())
    async with http.get(f"{base}/messages", params={"after_version": str(version), "timeout": "5"}) as r:
        changes = await r.json()
    await task
    [msg] = changes["messages"]
    assert msg["text"] == "Hi" and msg["html"] == "<b>Hi</b>" and msg["entities"][0]["type"] == "bold"
    assert msg["buttons"] == [
        [{"text": "Go", "callback_data": "go"}, {"text": "Site", "url": "https://example.com"}]
    ]
    assert changes["version"] >= msg["version"] > version

    async with http.post(f"{base}/press", json={"message_id": msg["message_id"], "callback_data": "go"}) as r:
        pressed = await r.json()
    query_id = pressed["callback_query_id"]
    assert tg.updates[-1]["callback_query"]["data"] == "go"
    await tg.call("answerCallbackQuery", {"callback_query_id": query_id, "text": "Going"})
    await tg.call("editMessageText", {"chat_id": USER, "message_id": msg["message_id"], "text": "Gone"})
    async with http.get(f"{base}/messages", params={"after_version": str(msg["version"])}) as r:
        changes = await r.json()
    assert [m["text"] for m in changes["messages"]] == ["Gone"] and changes["messages"][0]["edited"] == 1
    assert changes["callback_answers"][0]["text"] == "Going"
    await tg.call("deleteMessage", {"chat_id": USER, "message_id": msg["message_id"]})
    async with http.get(f"{base}/messages", params={"after_version": str(changes["version"])}) as r:
        deleted = (await r.json())["messages"]
    assert deleted == [{"message_id": msg["message_id"], "version": deleted[0]["version"], "deleted": True}]
    async with http.get(f"{base}/messages", params={"after_version": "99999", "timeout": "0.1"}) as r:
        assert (await r.json())["messages"] == []
    async with http.post(f"{base}/block") as r:
        assert r.status == 200
    assert tg.user(USER).blocked
    async with http.get(f"{tg.base_url}/_fake/violations") as r:
        assert (await r.json())["violations"] == []
