"""The one place where the bot's flood and retry policy for Telegram lives.

A session middleware wraps every Bot API call: on 429 it waits `retry_after` and tries again, on
network errors and 5xx it backs off; anything else (400, 403) goes back to the caller untouched,
except one: answering a button press too late ("query is too old", after a wait on a busy chat or a
crash elsewhere) is not an error the user should hear about. The spinner is gone by then anyway, so
the answer counts as given and the handler goes on to show its screen.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, Response, TelegramMethod
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
            except TelegramBadRequest as error:
                if isinstance(method, AnswerCallbackQuery) and late_answer(error):
                    log.info("a button press was answered too late; ignored")
                    return Response[TelegramType](ok=True, result=True)
                raise
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


LATE_ANSWER_MARKERS = ("query is too old", "query id is invalid")


def late_answer(error: TelegramBadRequest) -> bool:
    """Telegram's refusal of an answerCallbackQuery that came after the query expired."""
    text = error.message.lower()
    return any(marker in text for marker in LATE_ANSWER_MARKERS)
