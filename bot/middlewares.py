"""Update middlewares: who is writing (registered, banned, allowed) and in which language to answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.i18n import pick_locale, t
from bot.services.users import UserProfile, UserService

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UserMiddleware(BaseMiddleware):
    """Registers the sender and drops updates of banned users and, with an allow list, of strangers.

    A dropped button press is still answered (silently), so the client stops its spinner.
    """

    def __init__(
        self,
        users: UserService,
        *,
        admin_ids: Collection[int],
        allowed_ids: Collection[int],
        i18n: I18n | None = None,
    ) -> None:
        self.users = users
        self.i18n = i18n  # for the one line a banned user gets
        self.admin_ids = frozenset(admin_ids)
        self.allowed_ids = frozenset(allowed_ids)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        is_admin = tg_user.id in self.admin_ids
        paid = self._carries_payment(event)  # money Telegram took is credited whoever sent it
        if self.allowed_ids and not is_admin and not paid and tg_user.id not in self.allowed_ids:
            await self._drop(event)
            return None
        profile = await self.users.register(
            tg_user.id,
            username=tg_user.username,
            first_name=tg_user.first_name or "",
            language_code=tg_user.language_code,
        )
        if profile.is_banned and not is_admin and not paid:
            await self._refuse_banned(event, profile, tg_user)
            return None
        data["user"] = profile
        data["is_admin"] = is_admin
        return await handler(event, data)

    @staticmethod
    def _carries_payment(event: TelegramObject) -> bool:
        message = event.message if isinstance(event, Update) else None
        return message is not None and (
            message.successful_payment is not None or message.refunded_payment is not None
        )

    async def _refuse_banned(self, event: TelegramObject, profile: UserProfile, tg_user: User) -> None:
        """One polite line in the user's language, nothing more (no menu, no hint of the shop)."""
        if self.i18n is None or not isinstance(event, Update):
            await self._drop(event)
            return
        locale = pick_locale(
            profile.locale,
            tg_user.language_code,
            self.i18n.default_locale,
            available=self.i18n.available_locales,
        )
        with self.i18n.context(), self.i18n.use_locale(locale):
            line = t("banned.line")
        if event.callback_query is not None:
            await event.callback_query.answer(line)
        elif event.message is not None and event.message.chat.type == "private":
            await event.message.answer(line)

    @staticmethod
    async def _drop(event: TelegramObject) -> None:
        if isinstance(event, Update) and event.callback_query is not None:
            await event.callback_query.answer()


class ApologyAnswerMiddleware(BaseMiddleware):
    """Inner callback-query middleware, after aiogram's CallbackAnswerMiddleware: when a handler
    fails, its press is not answered blank; the error handler answers it with an apology alert
    (bot/handlers/errors.py)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except Exception:
            answer = data.get("callback_answer")
            if isinstance(answer, CallbackAnswer) and not answer.answered:
                answer.disable()
            raise


class UserI18nMiddleware(I18nMiddleware):
    """The user's chosen language, else their Telegram language, else the default."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        profile: UserProfile | None = data.get("user")
        tg_user: User | None = data.get("event_from_user")
        return pick_locale(
            profile.locale if profile else None,
            tg_user.language_code if tg_user else None,
            self.i18n.default_locale,
            available=self.i18n.available_locales,
        )
