"""The one place where the bot's flood and retry policy for Telegram lives.

A session middleware wraps every Bot API call: on 429 it waits `retry_after` and tries again, on
network errors and 5xx it backs off; anything else (400, 403) goes back to the caller untouched.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryMiddleware(BaseRequestMiddleware):
    """Honour 429 retry_after and retry transient faults a bounded number of times."""

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        max_retry_after: float = 60.0,
        backoff: float = 0.5,
        sleep: Any = asyncio.sleep,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.backoff = backoff
        self._sleep = sleep
        self.retries_after_429 = 0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt >= self.max_attempts or error.retry_after > self.max_retry_after:
                    raise
                self.retries_after_429 += 1
                log.warning(
                    "Telegram flood limit on %s: waiting %ss", type(method).__name__, error.retry_after
                )
                await self._sleep(error.retry_after)
            except (TelegramNetworkError, TelegramServerError) as error:
                if attempt >= self.max_attempts:
                    raise
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning(
                    "Telegram call %s failed (%s); retrying in %.1fs", type(method).__name__, error, delay
                )
                await self._sleep(delay)
            attempt += 1
