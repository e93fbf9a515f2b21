"""Keep aiogram's parametrised `Response[...]` models alive between Bot API calls.

aiogram validates every reply with `Response[method.__returning__]`. pydantic (2.11+) caches such
parametrised models only weakly, so each garbage collection drops them and the next call rebuilds
the model class and its validator: about 4 ms of CPU per Bot API call, 15% of the bot's CPU in
the conversation benchmark (bench/RESULTS.md). Holding one strong reference per method class
keeps pydantic's cache warm for the life of the process. Nothing about a request or a reply
changes: the models are the ones aiogram builds itself, through public subscription.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

_PINNED: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {}


def pin_response_type(method_type: type[TelegramMethod[Any]]) -> None:
    """Build `Response[<returning>]` once for this method class and keep it referenced."""
    if method_type not in _PINNED:
        _PINNED[method_type] = Response[method_type.__returning__]  # type: ignore[name-defined]


class KeepReplyModels(BaseRequestMiddleware):
    """A session middleware: pins the reply model of each method before aiogram validates its reply."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        pin_response_type(type(method))
        return await make_request(bot, method)
