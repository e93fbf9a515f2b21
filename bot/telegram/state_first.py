"""Save the conversation state before the user sees the answer.

Inside an update the FSM storage keeps state changes in memory and writes them once
(storage/fsm.py, storage/redis_fsm.py). This session middleware saves them just before each Bot API call, so a reply
never reaches the user while the state it belongs to exists only in this process: if the bot
stops right after answering, the next message still finds the form where the answer left it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from storage import redis_fsm
from storage.fsm import save_pending

if TYPE_CHECKING:
    from aiogram import Bot


class SaveStateFirstMiddleware(BaseRequestMiddleware):
    """Writes the current update's pending conversation changes, then makes the call."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        await save_pending()
        await redis_fsm.save_pending()
        return await make_request(bot, method)
