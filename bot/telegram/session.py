"""The bot's HTTP session: aiogram's own `AiohttpSession`, tuned only through its public arguments.

* orjson encodes requests and decodes replies (the `json_loads` / `json_dumps` arguments aiogram
  offers for exactly this): a share of every call's CPU (bench/RESULTS.md);
* `KeepReplyModels`, a request middleware (aiogram's session middleware API), keeps the reply
  model of every method the bot calls alive (bot/telegram/response_types.py says why).

Request bodies, replies and errors are aiogram's own (tests/e2e/test_bot_session.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.telegram.response_types import KeepReplyModels


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_session(api: TelegramAPIServer) -> AiohttpSession:
    """The bot's session: aiogram's, with orjson and the reply models kept alive."""
    session = AiohttpSession(api=api, json_loads=orjson.loads, json_dumps=_dumps)
    session.middleware(KeepReplyModels())
    return session
