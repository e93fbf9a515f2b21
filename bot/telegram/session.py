"""aiogram's aiohttp session with the per-call costs that grow with a keyboard's size trimmed.

Profiling the conversation benchmark (bench/RESULTS.md) put a fifth of the bot's CPU in two
places of aiogram's session, both proportional to the size of the screen's inline keyboard:

* `prepare_value` walks the request's dumped models key by key, one recursive call per field of
  every button (most of them None), to drop the Nones before the JSON encoding;
* `check_response` validates the reply, and Telegram's reply to sendMessage / editMessageText
  echoes the whole keyboard: a dozen pydantic models built per call that nobody reads.

So plain JSON containers are stripped in one tight pass (anything else still goes through
aiogram's own `prepare_value`), and a successful reply that echoes the inline keyboard this very
request sent carries that request's keyboard object instead of a freshly validated copy: the same
buttons (Telegram echoes what it was given), without rebuilding them. Errors, replies without a
keyboard and replies that do not validate take aiogram's path unchanged. Every reply's model is
also kept alive across garbage collections (bot/telegram/response_types.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup
from pydantic import ValidationError

from bot.telegram.response_types import pin_response_type

if TYPE_CHECKING:
    from aiogram import Bot

_SCALARS = (str, int, float, bool)


class StorefrontSession(AiohttpSession):
    """`AiohttpSession`, same behaviour, less CPU per call with real keyboards."""

    def prepare_value(self, value: Any, bot: Bot, files: dict[str, Any], _dumps_json: bool = True) -> Any:
        kind = type(value)
        if kind is dict or kind is list:
            prepared = self._strip(value, bot, files)
            return self.json_dumps(prepared) if _dumps_json else prepared
        return super().prepare_value(value, bot, files, _dumps_json)

    def _strip(self, value: Any, bot: Bot, files: dict[str, Any]) -> Any:
        """aiogram's dict/list branch of `prepare_value` (Nones dropped), without a call per scalar."""
        if type(value) is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                if item is None:
                    continue
                kind = type(item)
                if kind in _SCALARS:
                    out[key] = item
                    continue
                prepared = self._strip(item, bot, files)
                if prepared is not None:
                    out[key] = prepared
            return out
        if type(value) is list:
            items: list[Any] = []
            for item in value:
                if item is None:
                    continue
                if type(item) in _SCALARS:
                    items.append(item)
                    continue
                prepared = self._strip(item, bot, files)
                if prepared is not None:
                    items.append(prepared)
            return items
        # A model, a default, a file, a date, an enum: aiogram's own rules.
        return super().prepare_value(value, bot, files, _dumps_json=False)

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        pin_response_type(type(method))  # its reply model survives garbage collections
        sent = getattr(method, "reply_markup", None)
        if status_code == 200 and isinstance(sent, InlineKeyboardMarkup):
            try:
                data = self.json_loads(content)
            except Exception:
                data = None
            result = data.get("result") if isinstance(data, dict) and data.get("ok") is True else None
            if isinstance(result, dict) and isinstance(result.get("reply_markup"), dict):
                result["reply_markup"] = sent.as_(bot)  # a validated model is taken as it is
                try:
                    response_type = Response[method.__returning__]  # type: ignore[name-defined]
                    return response_type.model_validate(data, context={"bot": bot})
                except ValidationError:
                    pass  # aiogram's path reports it
        return super().check_response(bot, method, status_code, content)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_session(api: TelegramAPIServer) -> StorefrontSession:
    """The bot's session: orjson for every request and reply, a share of each call's CPU too."""
    return StorefrontSession(api=api, json_loads=orjson.loads, json_dumps=_dumps)
